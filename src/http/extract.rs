//! Extractors that refuse bad input with a problem naming what is wrong: JSON bodies, query
//! strings, path ids, the bearer token and its scopes, the `Idempotency-Key` header.
//!
//! axum's own extractors answer plain-text rejections; these answer RFC 9457 problems and name
//! the field (`cidrs[1]`, `limit`, `id`, `Idempotency-Key`), so clients can fix their request.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::problem::{ApiError, Problem};
use crate::app::{Actor, App, FieldError};
use crate::model::{Principal, Scope};

// ---------------------------------------------------------------------------------------------
// JSON bodies
// ---------------------------------------------------------------------------------------------

/// A JSON request body: `application/json` (else 415), within the body limit (else 413),
/// well-formed (else 400), and matching the request type (else 422 naming the field).
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                if content_type.is_empty() {
                    "the request body must be JSON with Content-Type: application/json".to_owned()
                } else {
                    format!("the request body must be application/json, not {content_type}")
                },
            )
            .into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::from_status(StatusCode::PAYLOAD_TOO_LARGE, "", "")
            } else {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "malformed-body",
                    "Malformed request body",
                    rejection.body_text(),
                )
            }
        })?;
        json_parse(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body: syntax errors are 400, content errors are 422 with the field's path.
pub fn json_parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole document: `{} trailing` is malformed (400), not a body
    // missing its fields (422).
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| json_problem(e, None))?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        json_problem(err.into_inner(), Some(&path))
    })?;
    de.end().map_err(|e| json_problem(e, None))?;
    Ok(value)
}

fn json_problem(err: serde_json::Error, path: Option<&str>) -> Problem {
    let message = strip_position(&err.to_string());
    match err.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Malformed JSON",
            format!(
                "the body is not valid JSON: {message} (line {}, column {})",
                err.line(),
                err.column()
            ),
        ),
        serde_json::error::Category::Io | serde_json::error::Category::Data => {
            Problem::validation(vec![FieldError {
                field: field_of(path.unwrap_or("."), &message),
                message,
            }])
        }
    }
}

/// serde_json appends " at line L column C" to its messages; the field path says more.
fn strip_position(message: &str) -> String {
    let Some(i) = message.rfind(" at line ") else {
        return message.to_owned();
    };
    let tail = &message[i + " at line ".len()..];
    let is_position = tail
        .split_once(" column ")
        .is_some_and(|(l, c)| l.parse::<usize>().is_ok() && c.parse::<usize>().is_ok());
    if is_position {
        message[..i].to_owned()
    } else {
        message.to_owned()
    }
}

/// The field a deserialisation error is about: serde_path_to_error's path, completed with the
/// name of a missing or unknown field (serde reports those at the enclosing object).
fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let base = if path == "." { "" } else { path };
    match named {
        Some(name) if !base.ends_with(name) => {
            if base.is_empty() {
                name.to_owned()
            } else {
                format!("{base}.{name}")
            }
        }
        _ if base.is_empty() => "body".to_owned(),
        _ => base.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------------------------

/// The query string as name/value pairs, taken apart parameter by parameter so each error can
/// name its parameter, and so that unknown parameters are refused rather than ignored.
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| Problem::bad_request("query", e.body_text()))?;
        Ok(QueryParams { pairs })
    }
}

impl QueryParams {
    /// All values of a repeatable parameter.
    pub fn all(&mut self, name: &str) -> Vec<String> {
        let (taken, rest) = std::mem::take(&mut self.pairs)
            .into_iter()
            .partition(|(k, _)| k == name);
        self.pairs = rest;
        taken.into_iter().map(|(_, v)| v).collect()
    }

    /// The raw value of a parameter given at most once.
    pub fn string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut values = self.all(name);
        match values.len() {
            0 => Ok(None),
            1 => Ok(values.pop()),
            _ => Err(Problem::bad_request(name, "give this parameter at most once").into()),
        }
    }

    /// A parameter parsed with `FromStr`.
    pub fn parse<T>(&mut self, name: &str) -> Result<Option<T>, ApiError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.string(name)?
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ApiError::bad_request(name, e.to_string()))
            })
            .transpose()
    }

    /// A boolean flag: `true` or `false` (absent is false).
    pub fn flag(&mut self, name: &str) -> Result<bool, ApiError> {
        match self.string(name)?.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(ApiError::bad_request(
                name,
                format!("'{v}' is not true or false"),
            )),
        }
    }

    /// A UUID parameter.
    pub fn uuid(&mut self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.string(name)?
            .map(|v| {
                v.parse::<Uuid>()
                    .map_err(|_| ApiError::bad_request(name, format!("'{v}' is not a UUID")))
            })
            .transpose()
    }

    /// `limit` (1..=200, default 50).
    pub fn limit(&mut self) -> Result<i64, ApiError> {
        match self.string("limit")? {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(Problem::bad_request(
                    "limit",
                    format!("'{v}' is not a number from 1 to {MAX_LIMIT}"),
                )
                .into()),
            },
        }
    }

    /// A UUID `cursor` (the `next_cursor` of the previous page).
    pub fn uuid_cursor(&mut self) -> Result<Option<Uuid>, ApiError> {
        self.string("cursor")?
            .map(|v| {
                v.parse::<Uuid>().map_err(|_| {
                    ApiError::bad_request("cursor", format!("'{v}' is not a cursor of this list"))
                })
            })
            .transpose()
    }

    /// Refuses whatever parameter is left over.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.pairs.into_iter().next() {
            None => Ok(()),
            Some((name, _)) => {
                Err(Problem::bad_request(&name, "unknown query parameter".to_owned()).into())
            }
        }
    }
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// Parses `label=k=v` values into a map.
pub fn labels_parse(values: Vec<String>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut labels = BTreeMap::new();
    for v in values {
        match v.split_once('=') {
            Some((k, val)) if !k.is_empty() => {
                if labels.insert(k.to_owned(), val.to_owned()).is_some() {
                    return Err(Problem::bad_request(
                        "label",
                        format!("label '{k}' is given twice"),
                    )
                    .into());
                }
            }
            _ => {
                return Err(Problem::bad_request(
                    "label",
                    format!("'{v}' is not of the form key=value"),
                )
                .into());
            }
        }
    }
    Ok(labels)
}

// ---------------------------------------------------------------------------------------------
// Path ids
// ---------------------------------------------------------------------------------------------

/// The `{id}` path parameter as a UUID (else 400 naming `id`).
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::bad_request("id", e.body_text()))?;
        raw.parse::<Uuid>()
            .map(PathId)
            .map_err(|_| Problem::bad_request("id", format!("'{raw}' is not a UUID")).into())
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication and scopes
// ---------------------------------------------------------------------------------------------

/// Set by the `finish` middleware so the auth extractor can tell it who called (for the audit
/// row of a refused request).
#[derive(Clone, Default)]
pub struct PrincipalSlot(pub Arc<OnceLock<String>>);

/// The scopes a route accepts (any one of them; `admin` always passes; none listed: any
/// valid token).
pub trait Need {
    const SCOPES: &'static [Scope];
}

/// `admin` only.
pub struct AdminScope;
impl Need for AdminScope {
    const SCOPES: &'static [Scope] = &[Scope::Admin];
}
/// `read`.
pub struct ReadScope;
impl Need for ReadScope {
    const SCOPES: &'static [Scope] = &[Scope::Read];
}
/// `read` or `spokes:write`.
pub struct SpokesReadScope;
impl Need for SpokesReadScope {
    const SCOPES: &'static [Scope] = &[Scope::Read, Scope::SpokesWrite];
}
/// Any valid token, whatever its scopes.
pub struct AnyScope;
impl Need for AnyScope {
    const SCOPES: &'static [Scope] = &[];
}
/// `spokes:write`.
pub struct SpokesWriteScope;
impl Need for SpokesWriteScope {
    const SCOPES: &'static [Scope] = &[Scope::SpokesWrite];
}

/// The caller, authenticated with `Authorization: Bearer <secret>` (else 401) and holding one
/// of `N::SCOPES` (else 403).
pub struct Auth<N: Need> {
    pub actor: Actor,
    _need: PhantomData<N>,
}

impl<N: Need> FromRequestParts<App> for Auth<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Err(
                Problem::unauthorized("this request needs Authorization: Bearer <token>").into(),
            );
        }
        let secret = bearer_secret(&parts.headers).ok_or_else(|| {
            Problem::unauthorized("the Authorization header must be 'Bearer <token>'")
        })?;
        let principal = app
            .principal_from_token(secret)
            .await
            .map_err(Problem::from)?
            .ok_or_else(|| Problem::unauthorized("the token is unknown or revoked"))?;
        if let Some(slot) = parts.extensions.get::<PrincipalSlot>() {
            let _ = slot.0.set(principal.name.clone());
        }
        if !N::SCOPES.is_empty() && !N::SCOPES.iter().any(|s| principal.has(*s)) {
            let needed = N::SCOPES
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(Problem::forbidden(format!(
                "this request needs the scope {needed}; token '{}' has {}",
                principal.name,
                scopes_text(&principal)
            ))
            .into());
        }
        Ok(Auth {
            actor: Actor {
                principal,
                request_id: request_id(parts),
            },
            _need: PhantomData,
        })
    }
}

/// The secret of an `Authorization: Bearer <secret>` header.
pub fn bearer_secret(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|s| !s.is_empty())
}

fn scopes_text(p: &Principal) -> String {
    if p.scopes.is_empty() {
        "no scopes".to_owned()
    } else {
        p.scopes
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The request id set by `SetRequestIdLayer`.
pub fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Idempotency-Key
// ---------------------------------------------------------------------------------------------

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The optional `Idempotency-Key` header: 1-255 printable ASCII characters (else 400).
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(IDEMPOTENCY_KEY).iter();
        let Some(value) = values.next() else {
            return Ok(IdempotencyKey(None));
        };
        if values.next().is_some() {
            return Err(
                Problem::bad_request(IDEMPOTENCY_KEY, "give this header at most once").into(),
            );
        }
        let bytes = value.as_bytes();
        if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b))
        {
            return Err(Problem::bad_request(
                IDEMPOTENCY_KEY,
                "must be 1 to 255 printable ASCII characters",
            )
            .into());
        }
        Ok(IdempotencyKey(Some(
            String::from_utf8_lossy(bytes).into_owned(),
        )))
    }
}
