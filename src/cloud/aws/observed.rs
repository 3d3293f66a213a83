//! The SDK interceptor that counts every AWS call in [`crate::metrics`]: by service, operation
//! and outcome, its duration (retries included), and each attempt AWS refused for rate.
//!
//! Installed on every client, so it sees reads as well as writes, every page of a listing and
//! the SDK's own retries (which the call-level audit of mutations does not).

use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use super::errors::classify;
use crate::cloud::CloudErrorKind;

#[derive(Debug, Clone)]
struct CallStart(Instant);

impl Storable for CallStart {
    type Storer = StoreReplace<Self>;
}

/// Counts calls; one value serves every client.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Observed;

fn names(cfg: &ConfigBag) -> (String, String) {
    match cfg.load::<Metadata>() {
        // `EC2`, `Route 53`, `Route53Profiles`, `RAM`, `STS` -> ec2, route53, ...
        Some(m) => (
            m.service().replace(' ', "").to_ascii_lowercase(),
            m.name().to_owned(),
        ),
        None => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

/// The AWS error code of a response, from the header JSON protocols set or the body
/// (`<Code>` in XML, `__type`/`code` in JSON).
fn error_code(res: &HttpResponse) -> Option<String> {
    if let Some(v) = res.headers().get("x-amzn-errortype") {
        return v.split(':').next().map(str::to_owned);
    }
    let body = std::str::from_utf8(res.body().bytes()?).ok()?;
    if let Some(i) = body.find("<Code>") {
        let rest = &body[i + "<Code>".len()..];
        return rest.split('<').next().map(str::to_owned);
    }
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let code = v.get("__type").or_else(|| v.get("code"))?.as_str()?;
    // `__type` may be `namespace#Code`.
    Some(code.rsplit('#').next().unwrap_or(code).to_owned())
}

fn throttled(res: &HttpResponse) -> bool {
    res.status().as_u16() >= 400
        && error_code(res)
            .is_some_and(|c| classify(&c, Some(res.status().as_u16())) == CloudErrorKind::Throttled)
}

impl Intercept for Observed {
    fn name(&self) -> &'static str {
        "endpoint-hub metrics"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(CallStart(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().is_some_and(throttled) {
            let (service, operation) = names(cfg);
            crate::metrics::aws_throttled(&service, &operation);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = names(cfg);
        let outcome = match (context.output_or_error(), context.response()) {
            (Some(Ok(_)), _) => "ok",
            (_, Some(res)) if throttled(res) => "throttled",
            (_, Some(res)) if res.status().is_server_error() => "server_error",
            (_, Some(_)) => "client_error",
            (_, None) => "no_response",
        };
        let took = cfg
            .load::<CallStart>()
            .map(|s| s.0.elapsed())
            .unwrap_or_default();
        crate::metrics::aws_call(&service, &operation, outcome, took);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn response(status: u16, header: Option<&str>, body: &str) -> HttpResponse {
        let mut res = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(body.to_owned()),
        );
        if let Some(h) = header {
            res.headers_mut().insert("x-amzn-errortype", h.to_owned());
        }
        res
    }

    #[test]
    fn throttling_is_recognised_in_each_protocol() {
        // EC2 (query protocol)
        assert!(throttled(&response(
            503,
            None,
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>"
        )));
        // Route 53 (REST-XML)
        assert!(throttled(&response(
            400,
            None,
            "<ErrorResponse><Error><Code>PriorRequestNotComplete</Code></Error></ErrorResponse>"
        )));
        // RAM, Route 53 Profiles (REST-JSON)
        assert!(throttled(&response(
            429,
            Some("ThrottlingException:http://internal.amazon.com/"),
            "{}"
        )));
        assert!(throttled(&response(
            400,
            None,
            r#"{"__type":"com.amazonaws#ThrottlingException"}"#
        )));
        // Not throttling
        assert!(!throttled(&response(
            400,
            None,
            "<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code></Error></Errors></Response>"
        )));
        assert!(!throttled(&response(200, None, "<Code>Throttling</Code>")));
    }
}
