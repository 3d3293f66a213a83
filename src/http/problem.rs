//! RFC 9457 problem details: the one error shape of the API.
//!
//! Handlers return [`Problem`]; the `finish` middleware in `mod.rs` fills in `instance` and
//! `request_id` and turns every other error response (axum's 404/405, tower-http's 413 and
//! timeout) into a problem as well, so clients only ever parse one error format.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::{AppError, FieldError};

pub const PROBLEM_JSON: &str = "application/problem+json";
const TYPE_BASE: &str = "https://endpoint-hub.dev/problems/";

/// An RFC 9457 problem (`application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI identifying the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "https://endpoint-hub.dev/problems/validation")]
    pub type_: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The request path.
    pub instance: Option<String>,
    /// The request id (also in the `x-request-id` header).
    pub request_id: Option<String>,
    /// The offending input fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// URL of the existing resource in the way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            type_: format!("{TYPE_BASE}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            request_id: None,
            errors: None,
            existing: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.errors = Some(errors);
        self
    }

    /// 400: a query parameter, path parameter or header is not acceptable.
    pub fn bad_request(field: &str, message: impl Into<String>) -> Problem {
        let message = message.into();
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            format!("{field}: {message}"),
        )
        .with_errors(vec![FieldError {
            field: field.to_owned(),
            message,
        }])
    }

    /// 422: the body is well-formed JSON but its content is not acceptable.
    pub fn validation(errors: Vec<FieldError>) -> Problem {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
            detail,
        )
        .with_errors(errors)
    }

    pub fn unauthorized(detail: &str) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    pub fn forbidden(detail: String) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// A problem for a bare error status produced outside the handlers.
    pub fn from_status(status: StatusCode, method: &str, path: &str) -> Problem {
        let title = status.canonical_reason().unwrap_or("Error");
        match status {
            StatusCode::NOT_FOUND => Problem::new(
                status,
                "not-found",
                "Not found",
                format!("there is no resource at {path}"),
            ),
            StatusCode::METHOD_NOT_ALLOWED => Problem::new(
                status,
                "method-not-allowed",
                "Method not allowed",
                format!("{method} is not allowed on {path}"),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
                status,
                "payload-too-large",
                "Payload too large",
                "the request body is larger than the server accepts",
            ),
            StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => Problem::new(
                status,
                "timeout",
                title,
                "the request did not complete in time",
            ),
            s if s.is_server_error() => {
                Problem::new(status, "internal", title, "the server could not answer")
            }
            _ => Problem::new(status, "http", title, title),
        }
    }

    /// The serialised response; also keeps the problem in the response extensions so the
    /// `finish` middleware can complete it.
    pub fn to_response(&self) -> Response {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let mut res = (self.status(), body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == 401 {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res.extensions_mut().insert(self.clone());
        res
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

/// The error of every handler and extractor: a boxed [`Problem`] (small to pass around).
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    /// 400 naming the query parameter, path parameter or header at fault.
    pub fn bad_request(field: &str, message: impl Into<String>) -> ApiError {
        Problem::bad_request(field, message).into()
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> ApiError {
        ApiError(Box::new(p))
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        Problem::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.to_response()
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Problem {
        match e {
            AppError::Invalid(errors) => Problem::validation(errors),
            AppError::NotFound(what) => Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("{what} not found"),
            ),
            AppError::Conflict { message, existing } => {
                let mut p = Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", message);
                p.existing = existing;
                p
            }
            AppError::Quota(message) => Problem::new(
                StatusCode::CONFLICT,
                "quota-exceeded",
                "Quota exceeded",
                message,
            ),
            AppError::NoPrices { region, table } => Problem::new(
                StatusCode::CONFLICT,
                "prices-missing",
                "No prices for the region",
                format!(
                    "the price table ({table}) has no prices for region {region}: add \
                     \"{region}\" to a price file of the same format as prices/aws-prices.json \
                     and point EH_PRICES_FILE at it (README, \"Cost report\")"
                ),
            ),
            AppError::IdempotencyMismatch => {
                let message = AppError::IdempotencyMismatch.to_string();
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    "Idempotency-Key reused",
                    message.clone(),
                )
                .with_errors(vec![FieldError {
                    field: "Idempotency-Key".into(),
                    message,
                }])
            }
            AppError::OverlapRace { .. } => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                "a CIDR overlaps another registration of this hub",
            ),
            AppError::Upstream(message) => Problem::new(
                StatusCode::BAD_GATEWAY,
                "aws-unavailable",
                "AWS could not be read",
                message,
            ),
            AppError::Unavailable(source) => {
                tracing::error!(error = %cause_chain(&source), "database unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    "the database is not available; retry later",
                )
            }
            AppError::Internal(source) => {
                tracing::error!(error = %cause_chain(source.as_ref()), "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal server error",
                    "the server failed to answer; the cause is logged under this request id",
                )
            }
        }
    }
}

/// `outer: inner: innermost`, for the log (never for the client).
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
