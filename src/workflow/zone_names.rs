//! Which private hosted zones a service needs, read from the private DNS names AWS lists for
//! it (`PrivateDnsNames` of its Interface entry in `DescribeVpcEndpointServices`), and the
//! caller reference each zone is made with.
//!
//! One zone per distinct name: `*.` removed (Route 53 refuses a wildcard zone name: "Creation
//! of hosted zone with a wildcard domain name is not supported", aws-samples/aws-vpc-builder-cdk
//! pull request 30, made for `ecr.dkr`'s `*.dkr.ecr.<region>.amazonaws.com.`), the trailing dot
//! removed (that listing carries one), lower case, duplicates merged, in AWS's order. Every
//! zone holds the same two alias records, its apex and `*.` under it (see `ops::zones`).
//!
//! [`ZONE_NAME_OVERRIDES`] replaces or drops a listed name that does not work as a zone name.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::Region;

/// What to do with one listed name of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneOverride {
    /// Make these zones instead (names as [`zone_names`] returns them; `{region}` stands for
    /// the hub's region).
    Use(&'static [&'static str]),
    /// Make no zone for the name.
    Skip,
}

/// One override: the service's short name (`kinesis-streams`), the name as AWS lists it
/// (`{region}` for the hub's region; compared without the trailing dot, ignoring case), and
/// what to do with it.
pub type ZoneOverrideEntry = (&'static str, &'static str, ZoneOverride);

/// Listed names that do not work as zone names, per service.
///
/// Empty: every name we found AWS listing works once `*.` and the trailing dot are removed
/// (the generic rule above). The cases peer projects got wrong were names built from the
/// service name (`kinesis-streams.<region>.amazonaws.com` for Kinesis Data Streams, whose
/// names are `kinesis.<region>`, `*.data-kinesis.<region>` and `*.control-kinesis.<region>`:
/// awslabs/landing-zone-accelerator-on-aws issue 1014, aws-samples/hub-and-spoke-with-
/// shared-services-vpc-terraform issue 1), which reading `PrivateDnsNames` avoids. An entry
/// belongs here only with a source for the name AWS lists, cited beside it.
pub const ZONE_NAME_OVERRIDES: &[ZoneOverrideEntry] = &[];

/// The zone names for a service's listed private DNS names (see the module doc), with
/// [`ZONE_NAME_OVERRIDES`] applied. Fails naming a listed name that is no usable zone name.
pub fn zone_names(
    service: &str,
    region: &Region,
    listed: &[String],
) -> Result<Vec<String>, String> {
    zone_names_with(ZONE_NAME_OVERRIDES, service, region, listed)
}

fn zone_names_with(
    overrides: &[ZoneOverrideEntry],
    service: &str,
    region: &Region,
    listed: &[String],
) -> Result<Vec<String>, String> {
    let with_region = |s: &str| s.replace("{region}", region.as_str());
    let mut names: Vec<String> = Vec::new();
    for raw in listed {
        let plain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let chosen = overrides
            .iter()
            .find(|(svc, name, _)| {
                *svc == service && with_region(name).eq_ignore_ascii_case(&plain)
            })
            .map(|(_, _, action)| *action);
        let wanted: Vec<String> = match chosen {
            Some(ZoneOverride::Skip) => continue,
            Some(ZoneOverride::Use(replacements)) => {
                replacements.iter().map(|r| with_region(r)).collect()
            }
            None => vec![plain],
        };
        for name in wanted {
            let name = zone_name_of(&name).ok_or_else(|| {
                format!(
                    "its private DNS name '{raw}' is not usable as a zone name (add an entry to \
                     ZONE_NAME_OVERRIDES)"
                )
            })?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// `name` as a zone name: `*.` and the trailing dot removed, lower case; `None` when what is
/// left is no DNS name (empty, an empty label, another `*`, over 255 characters).
fn zone_name_of(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.');
    let name = name.strip_prefix("*.").unwrap_or(name).to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    ok.then_some(name)
}

/// Route 53 accepts a `CallerReference` of at most this many characters.
const CALLER_REFERENCE_MAX: usize = 128;

/// The caller reference a new zone is made with: the hub, the service's generation (Route 53
/// never accepts a reference twice, even after the zone is deleted: a re-added service has a
/// new generation) and the zone name; a name too long to fit is cut and ends with a hash of
/// the whole name. Zones made before a service could have several keep their reference
/// (`endpoint-hub:{hub}:{generation}`, carried over by migration 0004).
pub fn zone_caller_reference(hub: Uuid, generation: Uuid, zone_name: &str) -> String {
    let base = format!("endpoint-hub:{}:{}:", hub.simple(), generation.simple());
    let room = CALLER_REFERENCE_MAX - base.len();
    if zone_name.len() <= room {
        return base + zone_name;
    }
    let digest = Sha256::digest(zone_name.as_bytes());
    let mut hash = String::new();
    for b in &digest[..8] {
        let _ = write!(hash, "{b:02x}");
    }
    let kept: String = zone_name.chars().take(room - hash.len() - 1).collect();
    format!("{base}{kept}~{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region() -> Region {
        "eu-west-1".parse().unwrap()
    }

    fn names(listed: &[&str]) -> Vec<String> {
        listed.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_zone_per_distinct_name() {
        let got = zone_names(
            "kinesis-streams",
            &region(),
            &names(&[
                "kinesis.eu-west-1.amazonaws.com",
                "*.data-kinesis.eu-west-1.amazonaws.com",
                "*.control-kinesis.eu-west-1.amazonaws.com.",
                "KINESIS.eu-west-1.amazonaws.com.",
                "data-kinesis.eu-west-1.amazonaws.com",
            ]),
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "kinesis.eu-west-1.amazonaws.com",
                "data-kinesis.eu-west-1.amazonaws.com",
                "control-kinesis.eu-west-1.amazonaws.com",
            ]
        );
    }

    #[test]
    fn unusable_names_are_refused() {
        for bad in ["*", "*.", "a..b", "*.*.x.com", "a b.com", ""] {
            let err = zone_names("svc", &region(), &names(&[bad])).unwrap_err();
            assert!(err.contains("ZONE_NAME_OVERRIDES"), "{bad}: {err}");
        }
    }

    #[test]
    fn overrides_replace_or_skip_a_listed_name() {
        const TABLE: &[ZoneOverrideEntry] = &[
            (
                "svc",
                "*.odd.{region}.amazonaws.com",
                ZoneOverride::Use(&["a.{region}.amazonaws.com", "*.b.{region}.amazonaws.com"]),
            ),
            ("svc", "skip.{region}.amazonaws.com", ZoneOverride::Skip),
        ];
        let listed = names(&[
            "*.ODD.eu-west-1.amazonaws.com.",
            "skip.eu-west-1.amazonaws.com",
            "svc.eu-west-1.amazonaws.com",
        ]);
        assert_eq!(
            zone_names_with(TABLE, "svc", &region(), &listed).unwrap(),
            [
                "a.eu-west-1.amazonaws.com",
                "b.eu-west-1.amazonaws.com",
                "svc.eu-west-1.amazonaws.com"
            ]
        );
        // Another service listing the same name is not affected.
        assert_eq!(
            zone_names_with(TABLE, "other", &region(), &listed).unwrap(),
            [
                "odd.eu-west-1.amazonaws.com",
                "skip.eu-west-1.amazonaws.com",
                "svc.eu-west-1.amazonaws.com"
            ]
        );
    }

    #[test]
    fn caller_references_fit_and_differ() {
        let (hub, generation) = (Uuid::new_v4(), Uuid::new_v4());
        let short = zone_caller_reference(hub, generation, "kinesis.eu-west-1.amazonaws.com");
        assert!(short.ends_with(":kinesis.eu-west-1.amazonaws.com"));
        let long_a = format!("{}.a.amazonaws.com", "x".repeat(60));
        let long_b = format!("{}.b.amazonaws.com", "x".repeat(60));
        let (a, b) = (
            zone_caller_reference(hub, generation, &long_a),
            zone_caller_reference(hub, generation, &long_b),
        );
        assert_eq!(a.len(), CALLER_REFERENCE_MAX);
        assert_ne!(a, b);
        assert_eq!(a, zone_caller_reference(hub, generation, &long_a));
        assert_ne!(
            short,
            zone_caller_reference(hub, Uuid::new_v4(), "kinesis.eu-west-1.amazonaws.com")
        );
    }
}
