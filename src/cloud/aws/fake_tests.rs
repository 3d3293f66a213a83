//! The SDK path end to end against a tiny in-process HTTP fake (no emulator needed): a refused
//! AssumeRole becomes `AccessDenied` naming the role, an EC2 error keeps its code and request id,
//! and mutating calls are audited with their outcome.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region as SdkRegion, SdkConfig};
use aws_credential_types::Credentials as StaticCredentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::AwsCloud;
use crate::cloud::pacing::{NoPacing, Pacer, Route53Bucket};
use crate::cloud::{
    CallCx, CallRecord, CallRecorder, CloudErrorKind, Credentials, Dns, Network, ZoneVpc,
};
use crate::domain::AccountId;

const ASSUMED: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIAFAKE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::111111111111:assumed-role/eh/endpoint-hub</Arn><AssumedRoleId>AROAFAKE:endpoint-hub</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>sts-ok</RequestId></ResponseMetadata></AssumeRoleResponse>"#;
const DENIED: &str = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed to assume</Message></Error><RequestId>sts-denied</RequestId></ErrorResponse>"#;
const THROTTLED: &str = r#"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>ec2-throttled</RequestID></Response>"#;
const R53_FAILURE: &str = r#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>An internal failure occurred.</Message></Error><RequestId>r53-failure</RequestId></ErrorResponse>"#;
const ROUTE_EXISTS: &str = r#"<Response><Errors><Error><Code>RouteAlreadyExists</Code><Message>The route identified by 10.1.0.0/16 already exists.</Message></Error></Errors><RequestID>ec2-exists</RequestID></Response>"#;

/// Answers by the request's `Action`: AssumeRole (refused for roles named `denied`),
/// DescribeVpcs (throttled), CreateRoute (already exists); every Route 53 request (by path)
/// with a 500.
async fn fake_aws() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body = &text[end + 4..];
                    let (status, answer) = if text
                        .lines()
                        .next()
                        .is_some_and(|l| l.contains(" /2013-04-01/"))
                    {
                        ("500 Internal Server Error", R53_FAILURE)
                    } else if body.contains("Action=AssumeRole") {
                        if body.contains("role%2Fdenied") {
                            ("403 Forbidden", DENIED)
                        } else {
                            ("200 OK", ASSUMED)
                        }
                    } else if body.contains("Action=DescribeVpcs") {
                        ("503 Service Unavailable", THROTTLED)
                    } else if body.contains("Action=CreateRoute") {
                        ("400 Bad Request", ROUTE_EXISTS)
                    } else {
                        ("400 Bad Request", "<Response/>")
                    };
                    // STS answers carry the request id in a header too; EC2's only in the body.
                    let header = if answer.contains("sts-") {
                        "x-amzn-requestid: sts-header\r\n"
                    } else {
                        ""
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: text/xml\r\n{header}content-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    return;
                }
            });
        }
    });
    format!("http://{addr}")
}

#[derive(Default)]
struct Records(Mutex<Vec<CallRecord>>);

#[async_trait]
impl CallRecorder for Records {
    async fn record(&self, record: CallRecord) {
        self.0.lock().unwrap().push(record);
    }
}

async fn cloud(records: Arc<Records>) -> AwsCloud {
    cloud_with(records, 1, Arc::new(NoPacing)).await
}

/// Over the fake, with `attempts` per call in the SDK's standard retry mode and `pacer`.
async fn cloud_with(records: Arc<Records>, attempts: u32, pacer: Arc<dyn Pacer>) -> AwsCloud {
    let base = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(SdkRegion::new("eu-west-1"))
        .endpoint_url(fake_aws().await)
        .credentials_provider(SharedCredentialsProvider::new(StaticCredentials::new(
            "AKIDSERVICE",
            "secret",
            None,
            None,
            "test",
        )))
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .build();
    AwsCloud::with_config(base, records, pacer)
}

fn cx(role: &str) -> CallCx {
    CallCx {
        account: "111111111111".parse().unwrap(),
        region: "eu-west-1".parse().unwrap(),
        role: format!("arn:aws:iam::111111111111:role/{role}")
            .parse()
            .unwrap(),
        external_id: None,
        job_id: Some(uuid::Uuid::nil()),
    }
}

#[tokio::test]
async fn refused_assume_role_is_access_denied() {
    let aws = cloud(Arc::default()).await;
    for err in [
        aws.caller_account(&cx("denied")).await.unwrap_err(),
        aws.vpc_get(&cx("denied"), &"vpc-12345678".parse().unwrap())
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind, CloudErrorKind::AccessDenied, "{err:?}");
        assert_eq!(err.code, "AccessDenied");
        assert_eq!(
            err.message,
            "cannot assume arn:aws:iam::111111111111:role/denied: AccessDenied: not allowed to assume"
        );
        assert_eq!(err.request_id.as_deref(), Some("sts-header"));
    }
}

#[tokio::test]
async fn ec2_errors_keep_code_and_request_id() {
    let aws = cloud(Arc::default()).await;
    let err = aws
        .vpc_get(&cx("eh"), &"vpc-12345678".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::Throttled, "{err:?}");
    assert_eq!(err.code, "RequestLimitExceeded");
    assert_eq!(err.operation, "DescribeVpcs");
    assert_eq!(err.request_id.as_deref(), Some("ec2-throttled"));
}

#[tokio::test]
async fn mutating_calls_are_audited_with_their_outcome() {
    let records = Arc::new(Records::default());
    let aws = cloud(records.clone()).await;
    let err = aws
        .route_create(
            &cx("eh"),
            &"rtb-12345678".parse().unwrap(),
            &"10.1.0.0/16".parse().unwrap(),
            &crate::cloud::RouteTarget::Peering("pcx-12345678".parse().unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::AlreadyExists, "{err:?}");
    let records = records.0.lock().unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.operation, "CreateRoute");
    assert_eq!(r.outcome, "RouteAlreadyExists");
    assert_eq!(r.request_id.as_deref(), Some("ec2-exists"));
    assert_eq!(r.resource_id.as_deref(), Some("rtb-12345678:10.1.0.0/16"));
    assert_eq!(r.job_id, Some(uuid::Uuid::nil()));
}

/// Records every reservation (and never makes anyone wait).
#[derive(Debug, Default)]
struct CountingPacer(Mutex<Vec<(AccountId, Route53Bucket)>>);

#[async_trait]
impl Pacer for CountingPacer {
    async fn reserve(&self, account: &AccountId, bucket: Route53Bucket) -> std::time::Duration {
        self.0.lock().unwrap().push((account.clone(), bucket));
        std::time::Duration::ZERO
    }
}

/// Every HTTP request to Route 53 reserves a slot, the SDK's own retries included, in the
/// bucket of its operation and the account of the call; EC2 and STS requests do not.
#[tokio::test]
async fn route53_requests_and_their_retries_are_paced() {
    let pacer = Arc::new(CountingPacer::default());
    let aws = cloud_with(Arc::default(), 2, pacer.clone()).await;
    let cx = cx("eh");
    let zone = "Z0123456789ABC".parse().unwrap();
    let err = aws.zone_get(&cx, &zone).await.unwrap_err();
    assert_eq!(err.code, "InternalFailure", "{err:?}");
    let vpc = ZoneVpc {
        vpc_id: "vpc-12345678".parse().unwrap(),
        region: "eu-west-1".parse().unwrap(),
    };
    let err = aws.vpc_associate(&cx, &zone, &vpc).await.unwrap_err();
    assert_eq!(err.code, "InternalFailure", "{err:?}");
    let _ = aws.vpc_get(&cx, &"vpc-12345678".parse().unwrap()).await;
    let seen = pacer.0.lock().unwrap().clone();
    let account: AccountId = "111111111111".parse().unwrap();
    assert_eq!(
        seen,
        [
            (account.clone(), Route53Bucket::Other),
            (account.clone(), Route53Bucket::Other),
            (account.clone(), Route53Bucket::AssociateVpc),
            (account, Route53Bucket::AssociateVpc),
        ]
    );
}
