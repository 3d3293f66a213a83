//! The AWS SDK implementation of the cloud traits.
//!
//! [`AwsCloud`] is one object shared (in an `Arc`) by every worker. It holds:
//! - the service's own SDK configuration, loaded with the standard chain
//!   (`AWS_ENDPOINT_URL`, `AWS_REGION`, profiles, credentials) plus our overrides (retry mode
//!   standard with `max_attempts`, an optional endpoint for emulators);
//! - a cache of clients per (role, external id, region), each acting with credentials from STS
//!   `AssumeRole`, cached and refreshed by the SDK ([`credentials`]);
//! - the [`Pacer`] giving every Route 53 request (SDK retries included) its slot in the
//!   account's published token buckets ([`paced_http`]);
//! - the [`CallRecorder`] receiving an audit record of every mutating call.
//!
//! SDK types stay inside this module: the traits speak the crate's own types, so errors are
//! mapped once ([`errors`]) and responses parsed into domain types at the edge (unparsable ids
//! from AWS are skipped or reported, never passed on as strings).

mod credentials;
mod ec2;
mod errors;
mod observed;
mod paced_http;
mod profiles;
mod route53;
mod transit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;

use self::credentials::{ClientKey, Clients, SharedClients};
use self::errors::{malformed, sdk_error};
use crate::cloud::pacing::Pacer;
use crate::cloud::{CallCx, CallRecord, CallRecorder, CloudResult, Credentials};
use crate::domain::AccountId;

/// How to reach AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// Endpoint for every service (an emulator such as moto); `None` uses the standard
    /// resolution, which already honours `AWS_ENDPOINT_URL` and profiles.
    pub endpoint_url: Option<String>,
    /// Attempts per call in the SDK's standard retry mode (exponential backoff with jitter).
    pub max_attempts: u32,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            endpoint_url: None,
            max_attempts: 5,
        }
    }
}

/// Every cloud capability, over the AWS SDK.
pub struct AwsCloud {
    base: aws_config::SdkConfig,
    clients: Mutex<HashMap<ClientKey, SharedClients>>,
    pacer: Arc<dyn Pacer>,
    recorder: Arc<dyn CallRecorder>,
}

impl std::fmt::Debug for AwsCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCloud")
            .field("endpoint_url", &self.base.endpoint_url())
            .field("region", &self.base.region())
            .finish_non_exhaustive()
    }
}

impl AwsCloud {
    /// Loads the service's own configuration (standard chain) with `settings` on top. Route 53
    /// requests wait for their slot from `pacer`.
    pub async fn new(
        settings: AwsSettings,
        recorder: Arc<dyn CallRecorder>,
        pacer: Arc<dyn Pacer>,
    ) -> AwsCloud {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)));
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        AwsCloud::with_config(loader.load().await, recorder, pacer)
    }

    /// Over an already loaded configuration (tests: static credentials, a local endpoint).
    pub(crate) fn with_config(
        base: aws_config::SdkConfig,
        recorder: Arc<dyn CallRecorder>,
        pacer: Arc<dyn Pacer>,
    ) -> AwsCloud {
        AwsCloud {
            base,
            clients: Mutex::new(HashMap::new()),
            pacer,
            recorder,
        }
    }

    /// The clients acting in `cx` (built once per role, external id and region).
    fn clients(&self, cx: &CallCx) -> SharedClients {
        let key = ClientKey::of(cx);
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key)
            .or_insert_with_key(|key| Arc::new(Clients::build(&self.base, key, &self.pacer)))
            .clone()
    }

    fn ec2(&self, cx: &CallCx) -> aws_sdk_ec2::Client {
        self.clients(cx).ec2.clone()
    }

    /// The Route 53 client for `cx` (its requests are paced, see [`paced_http`]).
    async fn route53(&self, cx: &CallCx) -> aws_sdk_route53::Client {
        self.clients(cx).route53.clone()
    }

    /// Maps a mutating call's result and records it. `created` names the resource a create call
    /// made, when `resource_id` is not known beforehand.
    async fn audited<O, E>(
        &self,
        cx: &CallCx,
        operation: &'static str,
        resource_id: Option<String>,
        result: Result<O, SdkError<E>>,
        created: impl FnOnce(&O) -> Option<String>,
    ) -> CloudResult<O>
    where
        O: RequestId,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (result, request_id, resource_id) = match result {
            Ok(out) => {
                let rid = out.request_id().map(str::to_owned);
                let resource_id = resource_id.or_else(|| created(&out));
                (Ok(out), rid, resource_id)
            }
            Err(e) => (Err(sdk_error(operation, e)), None, resource_id),
        };
        self.audit(cx, operation, resource_id, &result, request_id)
            .await;
        result
    }

    /// Records a mutating call (after it ran, whatever the outcome).
    async fn audit<T>(
        &self,
        cx: &CallCx,
        operation: &'static str,
        resource_id: Option<String>,
        result: &CloudResult<T>,
        ok_request_id: Option<String>,
    ) {
        let (outcome, request_id) = match result {
            Ok(_) => ("ok".to_owned(), ok_request_id),
            Err(e) => (e.code.clone(), e.request_id.clone()),
        };
        self.recorder
            .record(CallRecord {
                account: cx.account.clone(),
                region: cx.region.clone(),
                operation,
                resource_id,
                outcome,
                request_id,
                job_id: cx.job_id,
            })
            .await;
    }
}

#[async_trait]
impl Credentials for AwsCloud {
    #[tracing::instrument(skip(self), fields(account = %cx.account, role = %cx.role, region = %cx.region))]
    async fn caller_account(&self, cx: &CallCx) -> CloudResult<AccountId> {
        let out = self
            .clients(cx)
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| sdk_error("GetCallerIdentity", e))?;
        out.account()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| malformed("GetCallerIdentity", "an account id"))
    }
}

#[cfg(test)]
mod fake_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// `AwsCloud` provides every capability, as the workflows hold them.
    #[allow(dead_code)]
    fn is_a_cloud(aws: Arc<AwsCloud>) -> crate::cloud::Cloud {
        crate::cloud::Cloud::from_all(aws)
    }

    #[test]
    fn settings_default() {
        let s = AwsSettings::default();
        assert_eq!(s.max_attempts, 5);
        assert!(s.endpoint_url.is_none());
    }
}
