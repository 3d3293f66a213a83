//! Domain types: every identifier and address the service handles, parsed once at the edge.
//!
//! Nothing inside the service takes a `String` for an AWS id. Each type has a private field,
//! a `FromStr` that explains what is wrong, serde `try_from`, a transparent sqlx mapping and an
//! OpenAPI schema with the pattern it accepts.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Why a value could not be parsed; the message is shown to API users as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn string_schema(
    pattern: &str,
    example: &str,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([serde_json::Value::String(example.to_owned())])
        .into()
}

/// Implements the shared plumbing of a string newtype: Display, serde, sqlx, utoipa.
macro_rules! string_newtype {
    ($name:ident, $pattern:expr, $example:expr, $desc:expr) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                s.parse()
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse()
                    .map_err(|e: ParseError| serde::de::Error::custom(e.0))
            }
        }
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }
        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }
        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.0.as_str(), buf)
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <String as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(s.parse::<$name>()?)
            }
        }
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                string_schema($pattern, $example, $desc)
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

/// `prefix-` followed by 8 or 17 lowercase hex digits, as EC2 prints its ids.
macro_rules! ec2_id {
    ($name:ident, $prefix:literal, $what:literal, $example:literal) => {
        #[doc = concat!("An EC2 ", $what, " id (`", $prefix, "-` and 8 or 17 lowercase hex digits).")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                let hex = s.strip_prefix(concat!($prefix, "-")).ok_or_else(|| {
                    ParseError(format!(
                        "'{s}' is not a {}: it must start with '{}-'",
                        $what, $prefix
                    ))
                })?;
                if (hex.len() == 8 || hex.len() == 17)
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(ParseError(format!(
                        "'{s}' is not a {}: '{}-' must be followed by 8 or 17 lowercase hex digits",
                        $what, $prefix
                    )))
                }
            }
        }
        string_newtype!(
            $name,
            concat!("^", $prefix, "-([0-9a-f]{8}|[0-9a-f]{17})$"),
            $example,
            concat!("EC2 ", $what, " id")
        );
    };
}

ec2_id!(VpcId, "vpc", "VPC", "vpc-0a1b2c3d4e5f60718");
ec2_id!(SubnetId, "subnet", "subnet", "subnet-0a1b2c3d4e5f60718");
ec2_id!(RouteTableId, "rtb", "route table", "rtb-0a1b2c3d4e5f60718");
ec2_id!(
    PeeringId,
    "pcx",
    "VPC peering connection",
    "pcx-0a1b2c3d4e5f60718"
);
ec2_id!(
    SecurityGroupId,
    "sg",
    "security group",
    "sg-0a1b2c3d4e5f60718"
);
ec2_id!(
    PrefixListId,
    "pl",
    "managed prefix list",
    "pl-0a1b2c3d4e5f60718"
);
ec2_id!(EndpointId, "vpce", "VPC endpoint", "vpce-0a1b2c3d4e5f60718");
ec2_id!(
    TransitGatewayId,
    "tgw",
    "transit gateway",
    "tgw-0a1b2c3d4e5f60718"
);
ec2_id!(
    TgwAttachmentId,
    "tgw-attach",
    "transit gateway attachment",
    "tgw-attach-0a1b2c3d4e5f60718"
);
ec2_id!(
    TgwRouteTableId,
    "tgw-rtb",
    "transit gateway route table",
    "tgw-rtb-0a1b2c3d4e5f60718"
);

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl FromStr for AccountId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError(format!(
                "'{s}' is not an AWS account id: it must be exactly 12 digits"
            )))
        }
    }
}
string_newtype!(AccountId, "^[0-9]{12}$", "111111111111", "AWS account id");

/// An AWS region name such as `eu-west-1` or `us-gov-west-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl FromStr for Region {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        // partition-prefixed geography, direction word(s), then a number: eu-west-1, us-gov-east-1,
        // ap-southeast-4, cn-north-1, il-central-1, ca-west-1, mx-central-1.
        let parts: Vec<&str> = s.split('-').collect();
        let ok = (3..=4).contains(&parts.len())
            && parts[0].len() == 2
            && parts[0].bytes().all(|b| b.is_ascii_lowercase())
            && parts[1..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[parts.len() - 1]
                .parse::<u8>()
                .is_ok_and(|n| (1..=20).contains(&n))
            && !parts[parts.len() - 1].starts_with('0');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError(format!(
                "'{s}' is not an AWS region name (expected e.g. 'eu-west-1')"
            )))
        }
    }
}
string_newtype!(
    Region,
    "^[a-z]{2}(-[a-z]+){1,2}-[1-9][0-9]?$",
    "eu-west-1",
    "AWS region"
);

/// An IAM role ARN: `arn:<partition>:iam::<account>:role/<path/>name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleArn(String);

impl RoleArn {
    /// The role `name` (with optional path) in `account`, in the standard `aws` partition.
    pub fn for_account(account: &AccountId, name: &RoleName) -> RoleArn {
        RoleArn(format!("arn:aws:iam::{}:role/{}", account, name.0))
    }

    /// The account the role lives in.
    pub fn account(&self) -> AccountId {
        AccountId(self.0.split(':').nth(4).unwrap_or_default().to_owned())
    }
}

impl FromStr for RoleArn {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || {
            ParseError(format!(
                "'{s}' is not an IAM role ARN (expected arn:aws:iam::123456789012:role/name)"
            ))
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6
            || parts[0] != "arn"
            || !matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov")
            || parts[2] != "iam"
            || !parts[3].is_empty()
        {
            return Err(bad());
        }
        parts[4].parse::<AccountId>().map_err(|_| bad())?;
        let name = parts[5].strip_prefix("role/").ok_or_else(bad)?;
        name.parse::<RoleName>().map_err(|_| bad())?;
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(
    RoleArn,
    "^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[\\w+=,.@/-]{1,512}$",
    "arn:aws:iam::111111111111:role/endpoint-hub",
    "IAM role ARN"
);

/// An IAM role name, optionally with a path (`platform/endpoint-hub`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleName(String);

impl FromStr for RoleName {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let ok = !s.is_empty()
            && s.len() <= 512
            && !s.starts_with('/')
            && !s.ends_with('/')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError(format!(
                "'{s}' is not an IAM role name (letters, digits and +=,.@_-, optionally a path)"
            )))
        }
    }
}
string_newtype!(
    RoleName,
    "^[\\w+=,.@-]+(/[\\w+=,.@-]+)*$",
    "endpoint-hub",
    "IAM role name"
);

/// An STS external id (2-1224 characters of `[\w+=,.@:/-]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl FromStr for ExternalId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let ok = (2..=1224).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError(
                "an external id is 2 to 1224 characters of letters, digits and +=,.@:/_-".into(),
            ))
        }
    }
}
string_newtype!(
    ExternalId,
    "^[\\w+=,.@:/-]{2,1224}$",
    "vending-7f3a",
    "STS external id"
);

/// An interface endpoint service's short name: `sqs`, `ssm`, `ecr.api`, `execute-api`.
/// The full service name is `com.amazonaws.<region>.<short>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(String);

impl ServiceName {
    /// The endpoint service name in `region`, as `DescribeVpcEndpointServices` knows it.
    pub fn endpoint_service(&self, region: &Region) -> String {
        format!("com.amazonaws.{region}.{}", self.0)
    }

    /// The TCP ports the service's interface endpoint is used on, from [`SERVICE_PORTS`], and
    /// whether the catalogue knows the service (an unknown one gets 443).
    pub fn ports(&self) -> (&'static [u16], bool) {
        if let Some((_, ports)) = SERVICE_PORTS.iter().find(|(name, _)| *name == self.0) {
            return (ports, true);
        }
        (&[443], HTTPS_SERVICES.contains(&self.0.as_str()))
    }
}

/// Services whose interface endpoints are used on ports other than (or besides) 443, as AWS
/// documents them.
pub const SERVICE_PORTS: &[(&str, &[u16])] = &[
    // Amazon SES SMTP: STARTTLS on 25, 587 and 2587, TLS Wrapper on 465 and 2465 (SES Developer
    // Guide, "Connecting to an Amazon SES SMTP endpoint"; the VPC endpoint serves the same).
    ("email-smtp", &[25, 465, 587, 2465, 2587]),
    // CodeCommit: Git over HTTPS (443) and over SSH (22) (CodeCommit User Guide, "Setup for
    // HTTPS users" and "Setup steps for SSH connections"; the git-codecommit endpoint serves Git).
    ("git-codecommit", &[22, 443]),
    ("git-codecommit-fips", &[22, 443]),
];

/// Services known to be used over HTTPS (443) only: AWS APIs. A service in neither list gets
/// 443 too, with a note in the API that the catalogue does not know it.
pub const HTTPS_SERVICES: &[&str] = &[
    "apigateway",
    "athena",
    "autoscaling",
    "backup",
    "cloudformation",
    "codebuild",
    "codecommit",
    "codeartifact.api",
    "codeartifact.repositories",
    "codepipeline",
    "config",
    "dynamodb",
    "ebs",
    "ec2",
    "ec2messages",
    "ecr.api",
    "ecr.dkr",
    "ecs",
    "ecs-agent",
    "ecs-telemetry",
    "elasticfilesystem",
    "elasticloadbalancing",
    "email",
    "events",
    "execute-api",
    "firehose",
    "glue",
    "kinesis-firehose",
    "kinesis-streams",
    "kms",
    "lambda",
    "logs",
    "monitoring",
    "rds",
    "s3",
    "sagemaker.api",
    "sagemaker.runtime",
    "secretsmanager",
    "servicecatalog",
    "sns",
    "sqs",
    "ssm",
    "ssm-contacts",
    "ssm-incidents",
    "ssmmessages",
    "states",
    "sts",
    "sync-states",
    "xray",
];

impl FromStr for ServiceName {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError(format!(
                "'{s}' is not an endpoint service short name (e.g. 'sqs', 'ecr.api')"
            )))
        }
    }
}
string_newtype!(
    ServiceName,
    "^[a-z0-9-]+(\\.[a-z0-9-]+)*$",
    "sqs",
    "short name of an AWS interface endpoint service"
);

/// A hub's unique, human-chosen name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HubName(String);

impl FromStr for HubName {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let ok = (1..=63).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError(format!(
                "'{s}' is not a hub name: 1-63 lowercase letters, digits and '-', starting with a letter"
            )))
        }
    }
}
string_newtype!(
    HubName,
    "^[a-z][a-z0-9-]{0,62}$",
    "prod-eu-west-1",
    "hub name"
);

/// A Route 53 hosted zone id (`Z` and up to 32 upper-case letters and digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostedZoneId(String);

impl FromStr for HostedZoneId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let s = s.strip_prefix("/hostedzone/").unwrap_or(s);
        let ok = (2..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError(format!(
                "'{s}' is not a Route 53 hosted zone id"
            )))
        }
    }
}
string_newtype!(
    HostedZoneId,
    "^[A-Z0-9]{2,32}$",
    "Z0123456789ABCDEFGHIJ",
    "Route 53 hosted zone id"
);

/// A Route 53 Profile id (`rp-` and 1 to 61 lower-case letters and digits, e.g.
/// `rp-4987774726example`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileId(String);

impl FromStr for ProfileId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let ok = s.strip_prefix("rp-").is_some_and(|rest| {
            (1..=61).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError(format!(
                "'{s}' is not a Route 53 Profile id ('rp-' and lower-case letters and digits)"
            )))
        }
    }
}
string_newtype!(
    ProfileId,
    "^rp-[a-z0-9]{1,61}$",
    "rp-4987774726example",
    "Route 53 Profile id"
);

/// An IPv4 CIDR block that a VPC may hold: no host bits set, prefix length /16 to /28.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr(Ipv4Net);

impl Ipv4Cidr {
    pub fn net(&self) -> Ipv4Net {
        self.0
    }
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.0.contains(&other.0.network()) || other.0.contains(&self.0.network())
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.0.network()
    }
}

impl FromStr for Ipv4Cidr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let net: Ipv4Net = s.parse().map_err(|_| {
            ParseError(format!(
                "'{s}' is not an IPv4 CIDR block (expected e.g. '10.1.0.0/16')"
            ))
        })?;
        if net.trunc() != net {
            return Err(ParseError(format!(
                "'{s}' has host bits set: did you mean '{}'?",
                net.trunc()
            )));
        }
        if !(16..=28).contains(&net.prefix_len()) {
            return Err(ParseError(format!(
                "'{s}': a VPC CIDR block must be between /16 and /28"
            )));
        }
        Ok(Self(net))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for Ipv4Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e: ParseError| serde::de::Error::custom(e.0))
    }
}
impl utoipa::PartialSchema for Ipv4Cidr {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            "^([0-9]{1,3}\\.){3}[0-9]{1,3}/(1[6-9]|2[0-8])$",
            "10.1.0.0/16",
            "IPv4 CIDR block, /16 to /28, no host bits",
        )
    }
}
impl utoipa::ToSchema for Ipv4Cidr {}

impl From<Ipv4Cidr> for ipnet::IpNet {
    fn from(c: Ipv4Cidr) -> Self {
        ipnet::IpNet::V4(c.0)
    }
}
impl TryFrom<ipnet::IpNet> for Ipv4Cidr {
    type Error = ParseError;
    fn try_from(n: ipnet::IpNet) -> Result<Self, ParseError> {
        n.to_string().parse()
    }
}

// Stored as `cidr` (or `inet`), through ipnet's mapping; decoding checks the value again.
impl sqlx::Type<sqlx::Postgres> for Ipv4Cidr {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <ipnet::IpNet as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <ipnet::IpNet as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}
impl sqlx::postgres::PgHasArrayType for Ipv4Cidr {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <ipnet::IpNet as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
    fn array_compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <ipnet::IpNet as sqlx::postgres::PgHasArrayType>::array_compatible(ty)
    }
}
impl<'q> sqlx::Encode<'q, sqlx::Postgres> for Ipv4Cidr {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <ipnet::IpNet as sqlx::Encode<sqlx::Postgres>>::encode(ipnet::IpNet::V4(self.0), buf)
    }
}
impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Ipv4Cidr {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let net = <ipnet::IpNet as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Ok(Ipv4Cidr::try_from(net)?)
    }
}

/// Checks that no two CIDRs of a list overlap (equal ones included).
pub fn cidrs_disjoint(cidrs: &[Ipv4Cidr]) -> Result<(), ParseError> {
    for (i, a) in cidrs.iter().enumerate() {
        for b in &cidrs[i + 1..] {
            if a.overlaps(b) {
                return Err(ParseError(format!("{a} overlaps {b} in the same list")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_ids() {
        assert!("vpc-0a1b2c3d".parse::<VpcId>().is_ok());
        assert!("vpc-0a1b2c3d4e5f60718".parse::<VpcId>().is_ok());
        assert!("vpc-0A1B2C3D".parse::<VpcId>().is_err());
        assert!("vpc-0a1b2c3".parse::<VpcId>().is_err());
        assert!("vpc-0a1b2c3d4e".parse::<VpcId>().is_err());
        assert!("subnet-0a1b2c3d".parse::<VpcId>().is_err());
        assert!("rtb-12345678".parse::<RouteTableId>().is_ok());
    }

    #[test]
    fn accounts_regions_arns() {
        assert!("111111111111".parse::<AccountId>().is_ok());
        assert!("11111111111".parse::<AccountId>().is_err());
        assert!("11111111111a".parse::<AccountId>().is_err());
        for ok in [
            "eu-west-1",
            "us-gov-west-1",
            "ap-southeast-4",
            "il-central-1",
        ] {
            assert!(ok.parse::<Region>().is_ok(), "{ok}");
        }
        for bad in [
            "eu-west",
            "EU-west-1",
            "euwest1",
            "eu-west-0",
            "e-west-1",
            "",
        ] {
            assert!(bad.parse::<Region>().is_err(), "{bad}");
        }
        let arn: RoleArn = "arn:aws:iam::222222222222:role/platform/eh"
            .parse()
            .unwrap();
        assert_eq!(arn.account().as_str(), "222222222222");
        assert!(
            "arn:aws:iam::22222222222:role/x"
                .parse::<RoleArn>()
                .is_err()
        );
        assert!(
            "arn:aws:iam::222222222222:user/x"
                .parse::<RoleArn>()
                .is_err()
        );
        let name: RoleName = "endpoint-hub".parse().unwrap();
        let account: AccountId = "333333333333".parse().unwrap();
        assert_eq!(
            RoleArn::for_account(&account, &name).as_str(),
            "arn:aws:iam::333333333333:role/endpoint-hub"
        );
    }

    #[test]
    fn cidrs() {
        assert!("10.1.0.0/16".parse::<Ipv4Cidr>().is_ok());
        assert!("10.1.0.0/28".parse::<Ipv4Cidr>().is_ok());
        let e = "10.1.0.1/16".parse::<Ipv4Cidr>().unwrap_err();
        assert!(e.0.contains("host bits"), "{e}");
        assert!("10.0.0.0/8".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.0.0/29".parse::<Ipv4Cidr>().is_err());
        assert!("fd00::/64".parse::<Ipv4Cidr>().is_err());
        let a: Ipv4Cidr = "10.1.0.0/16".parse().unwrap();
        let b: Ipv4Cidr = "10.1.128.0/17".parse().unwrap();
        let c: Ipv4Cidr = "10.2.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a) && !a.overlaps(&c));
        assert!(cidrs_disjoint(&[a, b]).is_err());
        assert!(cidrs_disjoint(&[a, c]).is_ok());
    }

    #[test]
    fn services_and_names() {
        assert!("sqs".parse::<ServiceName>().is_ok());
        assert!("ecr.api".parse::<ServiceName>().is_ok());
        assert!("SQS".parse::<ServiceName>().is_err());
        assert!("sqs..x".parse::<ServiceName>().is_err());
        let port = |s: &str| s.parse::<ServiceName>().unwrap().ports();
        assert_eq!(port("sqs"), (&[443][..], true));
        assert_eq!(port("email-smtp"), (&[25, 465, 587, 2465, 2587][..], true));
        assert_eq!(port("git-codecommit"), (&[22, 443][..], true));
        assert_eq!(port("made-up"), (&[443][..], false));
        assert!("prod-hub".parse::<HubName>().is_ok());
        assert!("Prod".parse::<HubName>().is_err());
    }
}
