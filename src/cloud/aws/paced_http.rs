//! The HTTP client of the Route 53 clients: every request waits for its slot from the
//! [`Pacer`] before it is sent. Sitting below the SDK's orchestrator, it sees each attempt, so
//! the SDK's own retries and every page of a listing are paced too, which a pacer around the
//! trait calls could not do.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::cloud::pacing::{Pacer, Route53Bucket, pace};
use crate::domain::AccountId;

/// The HTTPS client the SDK would use by default (hyper 1 and rustls with aws-lc), for the
/// configurations that set none.
pub(crate) fn default_client() -> SharedHttpClient {
    use aws_smithy_http_client::{Builder, tls};
    Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https()
}

/// Wraps `inner`: the requests of one account's Route 53 client.
#[derive(Debug, Clone)]
pub(crate) struct PacedHttpClient {
    inner: SharedHttpClient,
    pacer: Arc<dyn Pacer>,
    account: AccountId,
}

impl PacedHttpClient {
    pub fn new(inner: SharedHttpClient, pacer: Arc<dyn Pacer>, account: AccountId) -> Self {
        PacedHttpClient {
            inner,
            pacer,
            account,
        }
    }
}

impl HttpClient for PacedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
            account: self.account.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<dyn Pacer>,
    account: AccountId,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let bucket = Route53Bucket::of_request(request.method(), request.uri());
        let inner = self.inner.clone();
        let pacer = self.pacer.clone();
        let account = self.account.clone();
        HttpConnectorFuture::new(async move {
            pace(pacer.as_ref(), &account, bucket).await;
            inner.call(request).await
        })
    }
}
