//! Turning SDK errors into [`CloudError`]s.
//!
//! Every operation of every service returns its own error enum, but all of them go through the
//! same generic `SdkError<E>` and expose their code, message and request id through
//! `ProvideErrorMetadata`; one function ([`sdk_error`]) maps them all, so the classification
//! (what the workflows retry, what they treat as done) lives in one tested place
//! ([`classify`]). The SDK's own retries (standard mode) have already run when we see an error.

use std::error::Error as StdError;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;

use super::credentials::AssumeRoleFailure;
use crate::cloud::{CloudError, CloudErrorKind};

/// Classifies an AWS error code (matched without regard to case, since moto and AWS differ in
/// the case of e.g. `InvalidVpcPeeringConnectionID.NotFound`) and, when known, the HTTP status.
pub(crate) fn classify(code: &str, status: Option<u16>) -> CloudErrorKind {
    let c = code.to_ascii_lowercase();
    let c = c.as_str();
    const THROTTLING: &[&str] = &[
        "requestlimitexceeded",
        "throttling",
        "throttlingexception",
        "throttledexception",
        "requestthrottled",
        "requestthrottledexception",
        "priorrequestnotcomplete",
        "toomanyrequestsexception",
        "ec2throttledexception",
        "slowdown",
    ];
    const TRANSIENT: &[&str] = &[
        "internalerror",
        "internalfailure",
        "internalservererror",
        "serviceunavailable",
        "unavailable",
        "requesttimeout",
        "requesttimeoutexception",
        "requestexpired",
        // Route 53: another request changed the same object (a zone's authorizations) at the
        // same moment; AWS says to retry.
        "concurrentmodification",
    ];
    if THROTTLING.contains(&c) {
        return CloudErrorKind::Throttled;
    }
    if TRANSIENT.contains(&c) {
        return CloudErrorKind::Transient;
    }
    // The JSON services (Route 53 Profiles, RAM) end their codes in `Exception`.
    let c = c.strip_suffix("exception").unwrap_or(c);
    if c == "internalserviceerror" || c == "serverinternal" || c == "serviceunavailable" {
        return CloudErrorKind::Transient;
    }
    if c.ends_with("notfound") || c.starts_with("nosuch") || c == "unknownresource" {
        return CloudErrorKind::NotFound;
    }
    // Route 53 Profiles: `ConflictException` (a VPC that already has a Profile, a zone name
    // already in the Profile, a Profile still associated) and `ResourceExistsException`.
    if c == "conflict" || c == "resourceexists" {
        return CloudErrorKind::AlreadyExists;
    }
    if c.ends_with(".duplicate")
        || c.ends_with("alreadyexists")
        || c == "conflictingdomainexists"
        || c == "hostedzonealreadyexists"
        // EC2 Transit Gateways: a second attachment of one VPC to one gateway; an attachment
        // already associated with a route table.
        || c == "duplicatetransitgatewayattachment"
        || c == "resource.alreadyassociated"
    {
        return CloudErrorKind::AlreadyExists;
    }
    if c == "unauthorizedoperation"
        || c.starts_with("accessdenied")
        || c == "notauthorized"
        || c == "authfailure"
        || c == "invalidclienttokenid"
        || c == "expiredtoken"
        || c == "signaturedoesnotmatch"
    {
        return CloudErrorKind::AccessDenied;
    }
    if c.ends_with("limitexceeded")
        || c.starts_with("toomany")
        || c == "limitsexceeded"
        || c == "servicequotaexceeded"
    {
        return CloudErrorKind::LimitExceeded;
    }
    if c.starts_with("incorrect")
        || c.contains("versionmismatch")
        || c.starts_with("invalid")
        || c == "dependencyviolation"
        || c == "hostedzonenotempty"
        || c == "lastvpcassociation"
        || c == "publiczonevpcassociation"
        || c == "conflictingtypes"
        || c == "missingparameter"
        || c == "unknownparameter"
        || c == "validationerror"
        || c == "validation"
        || c == "operationnotpermitted"
        || c == "malformedarn"
        || c == "duplicatesubnetsinsamezone"
    {
        return CloudErrorKind::Invalid;
    }
    match status {
        Some(s) if s >= 500 => CloudErrorKind::Transient,
        Some(429) => CloudErrorKind::Throttled,
        _ => CloudErrorKind::Other,
    }
}

/// Finds an [`AssumeRoleFailure`] in the error's source chain: the SDK reports a credentials
/// provider's failure as a dispatch failure wrapping it.
fn assume_role_failure<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a AssumeRoleFailure> {
    let mut cur: Option<&'a (dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(f) = e.downcast_ref::<AssumeRoleFailure>() {
            return Some(f);
        }
        cur = e.source();
    }
    None
}

/// The AWS request id of a failed call: from the error metadata or the response headers
/// (`x-amzn-RequestId`), else from the XML body (`<RequestId>`, EC2's `<RequestID>`).
pub(crate) fn request_id_of<E>(err: &SdkError<E>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    if let Some(id) = err.meta().request_id().or_else(|| err.request_id()) {
        return Some(id.to_owned());
    }
    let body = err.raw_response()?.body().bytes()?;
    request_id_in_body(&String::from_utf8_lossy(body))
}

pub(crate) fn request_id_in_body(body: &str) -> Option<String> {
    ["<RequestId>", "<RequestID>"].iter().find_map(|open| {
        let start = body.find(open)? + open.len();
        let len = body[start..].find('<')?;
        let id = body[start..start + len].trim();
        (!id.is_empty()).then(|| id.to_owned())
    })
}

/// Maps any operation's `SdkError` (EC2, Route 53 and STS share the type) to a [`CloudError`].
pub(crate) fn sdk_error<E>(operation: &str, err: SdkError<E>) -> CloudError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if let Some(f) = assume_role_failure(&err) {
        return f.to_cloud_error();
    }
    let status = err.raw_response().map(|r| r.status().as_u16());
    let request_id = request_id_of(&err);
    let (kind, code, message) = match &err {
        SdkError::ServiceError(_) => {
            let code = err
                .code()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("HTTP{}", status.unwrap_or_default()));
            let message = err.message().map(str::to_owned).unwrap_or_else(|| {
                format!(
                    "HTTP {} answer without an AWS error",
                    status.unwrap_or_default()
                )
            });
            (classify(&code, status), code, message)
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
        SdkError::ResponseError(_) => {
            // An unparseable answer, e.g. an HTML error page from a proxy or emulator.
            let kind = match status {
                Some(s) if s >= 500 => CloudErrorKind::Transient,
                Some(429) => CloudErrorKind::Throttled,
                _ => CloudErrorKind::Other,
            };
            (
                kind,
                format!("HTTP{}", status.unwrap_or_default()),
                format!("unparseable HTTP {} answer", status.unwrap_or_default()),
            )
        }
        _ => (
            CloudErrorKind::Other,
            "ConstructionFailure".to_owned(),
            short(DisplayErrorContext(&err).to_string()),
        ),
    };
    CloudError {
        kind,
        operation: operation.to_owned(),
        code,
        message,
        request_id,
    }
}

/// Error chains can embed whole HTTP responses: keep messages readable.
pub(crate) fn short(mut s: String) -> String {
    const MAX: usize = 400;
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// A response the SDK parsed but that lacks something we need (a created resource's id...).
pub(crate) fn malformed(operation: &str, what: &str) -> CloudError {
    CloudError::new(
        CloudErrorKind::Other,
        operation,
        "MalformedResponse",
        format!("the response lacks {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use CloudErrorKind::*;

    #[test]
    fn throttling_codes() {
        for code in [
            "RequestLimitExceeded",
            "Throttling",
            "ThrottlingException",
            "PriorRequestNotComplete",
            "TooManyRequestsException",
        ] {
            assert_eq!(classify(code, Some(400)), Throttled, "{code}");
        }
    }

    /// Route 53's `ConcurrentModification` (HTTP 400) is retried, not a permanent failure.
    #[test]
    fn route53_concurrent_modification_is_transient() {
        assert_eq!(classify("ConcurrentModification", Some(400)), Transient);
        assert!(CloudError::new(Transient, "op", "ConcurrentModification", "m").is_retryable());
    }

    #[test]
    fn not_found_codes_any_case() {
        for code in [
            "InvalidVpcPeeringConnectionID.NotFound",
            "InvalidVpcPeeringConnectionId.NotFound",
            "invalidvpcpeeringconnectionid.notfound",
            "InvalidRoute.NotFound",
            "InvalidVpcID.NotFound",
            "InvalidPrefixListID.NotFound",
            "InvalidGroup.NotFound",
            "NoSuchHostedZone",
            "VPCAssociationNotFound",
            "VPCAssociationAuthorizationNotFound",
        ] {
            assert_eq!(classify(code, Some(400)), NotFound, "{code}");
        }
    }

    #[test]
    fn already_exists_codes() {
        for code in [
            "RouteAlreadyExists",
            "ConflictingDomainExists",
            "InvalidPermission.Duplicate",
            "HostedZoneAlreadyExists",
        ] {
            assert_eq!(classify(code, Some(400)), AlreadyExists, "{code}");
        }
    }

    /// Route 53 Profiles and RAM (restJson1) end their codes in `Exception`, and answer 400
    /// for most of them.
    #[test]
    fn json_service_codes() {
        for (code, kind) in [
            ("ResourceNotFoundException", NotFound),
            ("UnknownResourceException", NotFound),
            ("ResourceShareInvitationArnNotFoundException", NotFound),
            ("ConflictException", AlreadyExists),
            ("ResourceExistsException", AlreadyExists),
            ("LimitExceededException", LimitExceeded),
            ("ResourceShareLimitExceededException", LimitExceeded),
            ("ServiceQuotaExceededException", LimitExceeded),
            ("ValidationException", Invalid),
            ("InvalidParameterException", Invalid),
            ("MalformedArnException", Invalid),
            ("OperationNotPermittedException", Invalid),
            ("ThrottlingException", Throttled),
            ("InternalServiceErrorException", Transient),
            ("ServerInternalException", Transient),
            ("ServiceUnavailableException", Transient),
            ("AccessDeniedException", AccessDenied),
        ] {
            assert_eq!(classify(code, Some(400)), kind, "{code}");
        }
    }

    #[test]
    fn access_limits_invalid() {
        for code in [
            "UnauthorizedOperation",
            "AccessDenied",
            "AccessDeniedException",
            "NotAuthorizedException",
        ] {
            assert_eq!(classify(code, Some(403)), AccessDenied, "{code}");
        }
        for code in [
            "VpcLimitExceeded",
            "RouteLimitExceeded",
            "TooManyHostedZones",
            "LimitsExceeded",
            "TooManyVPCAssociationAuthorizations",
        ] {
            assert_eq!(classify(code, Some(400)), LimitExceeded, "{code}");
        }
        for code in [
            "IncorrectState",
            "PrefixListVersionMismatch",
            "InvalidParameterValue",
            "InvalidParameterCombination",
            "InvalidInput",
            "DependencyViolation",
        ] {
            assert_eq!(classify(code, Some(400)), Invalid, "{code}");
        }
    }

    #[test]
    fn request_id_from_body() {
        let ec2 = "<Response><Errors><Error><Code>X</Code></Error></Errors><RequestID>r-1</RequestID></Response>";
        let sts = "<ErrorResponse><Error><Code>X</Code></Error><RequestId>r-2</RequestId></ErrorResponse>";
        assert_eq!(request_id_in_body(ec2).as_deref(), Some("r-1"));
        assert_eq!(request_id_in_body(sts).as_deref(), Some("r-2"));
        assert_eq!(request_id_in_body("<html>oops</html>"), None);
    }

    #[test]
    fn short_messages() {
        assert_eq!(short("abc".into()), "abc");
        let long = short("é".repeat(300));
        assert!(long.len() <= 403 && long.ends_with("..."));
    }

    #[test]
    fn status_fallback() {
        assert_eq!(classify("InternalError", Some(500)), Transient);
        assert_eq!(classify("ServiceUnavailable", Some(503)), Transient);
        assert_eq!(classify("SomethingOdd", Some(502)), Transient);
        assert_eq!(classify("SomethingOdd", Some(400)), Other);
        assert_eq!(classify("SomethingOdd", None), Other);
    }
}
