//! Reaching an account: STS `AssumeRole` as a credentials provider, and one set of clients per
//! (role, external id, region).
//!
//! Why a hand-made provider rather than `aws_config::sts::AssumeRoleProvider`: the workflows need
//! a failed AssumeRole reported as `cannot assume <arn>: <code>: <message>` (an `AccessDenied`
//! the platform engineer can act on), and the SDK reports a credentials provider's failure as an
//! opaque dispatch failure. Our provider puts an [`AssumeRoleFailure`] in that error's source
//! chain, where `errors::sdk_error` finds it. Caching and refreshing before expiry is left to the
//! SDK's lazy identity cache: each key has its own, shared by its EC2, Route 53 and STS clients,
//! so a role is assumed once per key and again shortly before its session expires.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::identity::IdentityCache;
use aws_config::{Region as SdkRegion, SdkConfig};
use aws_credential_types::provider::{
    ProvideCredentials, SharedCredentialsProvider, error::CredentialsError, future,
};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::errors::{classify, request_id_of, short};
use super::observed::Observed;
use super::paced_http::{PacedHttpClient, default_client};
use crate::cloud::pacing::Pacer;
use crate::cloud::{CallCx, CloudError, CloudErrorKind};
use crate::domain::{AccountId, ExternalId, Region, RoleArn};

/// The role session name, visible in the target account's CloudTrail.
const SESSION_NAME: &str = "endpoint-hub";

/// Refresh assumed credentials this long before they expire (sessions last an hour).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// How long one AssumeRole may take, STS retries included (the SDK's default is 5 s, too short
/// for a throttled STS with backoff).
const ASSUME_TIMEOUT: Duration = Duration::from_secs(30);

/// Why assuming a role failed; travels inside the SDK's error as a source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot assume {role}: {code}: {message}")]
pub(crate) struct AssumeRoleFailure {
    pub role: String,
    pub code: String,
    pub message: String,
    pub kind: CloudErrorKind,
    pub request_id: Option<String>,
}

impl AssumeRoleFailure {
    pub fn to_cloud_error(&self) -> CloudError {
        CloudError {
            kind: self.kind,
            operation: "AssumeRole".to_owned(),
            code: self.code.clone(),
            message: self.to_string(),
            request_id: self.request_id.clone(),
        }
    }
}

/// Credentials provider assuming one role with the service's own credentials.
#[derive(Debug)]
struct AssumeRoleCredentials {
    /// STS client signed with the service's own credentials, in the target region.
    sts: aws_sdk_sts::Client,
    role: String,
    external_id: Option<String>,
}

impl AssumeRoleCredentials {
    async fn assume(&self) -> Result<aws_credential_types::Credentials, CredentialsError> {
        tracing::debug!(role = %self.role, "assuming role");
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role)
            .set_external_id(self.external_id.clone())
            .role_session_name(SESSION_NAME)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(err) => {
                let failure = assume_role_failure(&self.role, err);
                tracing::warn!(role = %self.role, code = %failure.code, "cannot assume role");
                return Err(CredentialsError::provider_error(failure));
            }
        };
        let Some(c) = out.credentials() else {
            return Err(CredentialsError::provider_error(AssumeRoleFailure {
                role: self.role.clone(),
                code: "MalformedResponse".into(),
                message: "AssumeRole returned no credentials".into(),
                kind: CloudErrorKind::Other,
                request_id: None,
            }));
        };
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        Ok(aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            expiry,
            "endpoint-hub-assume-role",
        ))
    }
}

/// STS errors keep their classification when retrying makes sense (throttling, 5xx, network);
/// every other refusal is `AccessDenied`.
fn assume_role_failure<E>(role: &str, err: SdkError<E>) -> AssumeRoleFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let request_id = request_id_of(&err);
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (kind, code, message) = match &err {
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or("Unknown").to_owned();
            let message = err
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| short(DisplayErrorContext(&err).to_string()));
            let kind = match classify(&code, status) {
                k @ (CloudErrorKind::Throttled | CloudErrorKind::Transient) => k,
                _ => CloudErrorKind::AccessDenied,
            };
            (kind, code, message)
        }
        SdkError::TimeoutError(_) => (
            CloudErrorKind::Transient,
            "Timeout".to_owned(),
            short(DisplayErrorContext(&err).to_string()),
        ),
        SdkError::DispatchFailure(_) => (
            CloudErrorKind::Transient,
            "DispatchFailure".to_owned(),
            short(DisplayErrorContext(&err).to_string()),
        ),
        SdkError::ResponseError(_) if status.is_some_and(|s| s >= 500) => (
            CloudErrorKind::Transient,
            format!("HTTP{}", status.unwrap_or_default()),
            short(DisplayErrorContext(&err).to_string()),
        ),
        _ => (
            CloudErrorKind::AccessDenied,
            format!("HTTP{}", status.unwrap_or_default()),
            short(DisplayErrorContext(&err).to_string()),
        ),
    };
    AssumeRoleFailure {
        role: role.to_owned(),
        code,
        message,
        kind,
        request_id,
    }
}

impl ProvideCredentials for AssumeRoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

/// What one set of clients is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    /// The account `role` is in (Route 53 requests are paced per account).
    pub account: AccountId,
    pub role: RoleArn,
    pub external_id: Option<ExternalId>,
    pub region: Region,
}

impl ClientKey {
    pub fn of(cx: &CallCx) -> ClientKey {
        ClientKey {
            account: cx.account.clone(),
            role: cx.role.clone(),
            external_id: cx.external_id.clone(),
            region: cx.region.clone(),
        }
    }
}

/// Clients acting with one assumed role in one region.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub route53: aws_sdk_route53::Client,
    pub profiles: aws_sdk_route53profiles::Client,
    pub ram: aws_sdk_ram::Client,
    /// STS with the assumed credentials (for `GetCallerIdentity`).
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    /// Builds the clients for `key` on top of the service's own configuration `base` (which
    /// carries the credentials chain, retry configuration and endpoint override).
    /// The Route 53 client's requests wait for their slot from `pacer`.
    pub fn build(base: &SdkConfig, key: &ClientKey, pacer: &Arc<dyn Pacer>) -> Clients {
        let region = SdkRegion::new(key.region.as_str().to_owned());
        let own_sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(base)
                .region(region.clone())
                .interceptor(Observed)
                .build(),
        );
        let provider = AssumeRoleCredentials {
            sts: own_sts,
            role: key.role.as_str().to_owned(),
            external_id: key.external_id.as_ref().map(|e| e.as_str().to_owned()),
        };
        let conf = base
            .to_builder()
            .region(region)
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .identity_cache(
                IdentityCache::lazy()
                    .buffer_time(REFRESH_BEFORE_EXPIRY)
                    .load_timeout(ASSUME_TIMEOUT)
                    .build(),
            )
            .build();
        let paced = PacedHttpClient::new(
            base.http_client().unwrap_or_else(default_client),
            pacer.clone(),
            key.account.clone(),
        );
        let route53 = aws_sdk_route53::config::Builder::from(&conf)
            .http_client(paced)
            .interceptor(Observed)
            .build();
        // Every client counts its calls in the metrics.
        Clients {
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(&conf)
                    .interceptor(Observed)
                    .build(),
            ),
            route53: aws_sdk_route53::Client::from_conf(route53),
            profiles: aws_sdk_route53profiles::Client::from_conf(
                aws_sdk_route53profiles::config::Builder::from(&conf)
                    .interceptor(Observed)
                    .build(),
            ),
            ram: aws_sdk_ram::Client::from_conf(
                aws_sdk_ram::config::Builder::from(&conf)
                    .interceptor(Observed)
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&conf)
                    .interceptor(Observed)
                    .build(),
            ),
        }
    }
}

/// Shared handle type used by the cache.
pub(crate) type SharedClients = Arc<Clients>;
