//! The application layer's error: what went wrong, in terms the HTTP layer maps to problems.

use uuid::Uuid;

use crate::domain::Ipv4Cidr;

/// One offending input field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path of the field in the request (`cidrs[1]`, `labels.team`, query `limit`).
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        message: String,
        /// URL of the registration in the way, when there is one.
        existing: Option<String>,
    },
    #[error("{0}")]
    Quota(String),
    /// The price table has no prices for the hub's Region (cost report).
    #[error("no prices for region {region}")]
    NoPrices { region: String, table: String },
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyMismatch,
    /// An exclusion-constraint overlap from a concurrent enrolment, explained after rollback.
    #[error("CIDR overlap")]
    OverlapRace { hub_id: Uuid, cidrs: Vec<Ipv4Cidr> },
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// AWS could not be read for a plan (throttled, unreachable, refused).
    #[error("{0}")]
    Upstream(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn invalid(field: &str, message: &str) -> AppError {
        AppError::Invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        }])
    }
    pub fn conflict(message: String) -> AppError {
        AppError::Conflict {
            message,
            existing: None,
        }
    }
    pub fn quota(message: String) -> AppError {
        AppError::Quota(message)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                AppError::Unavailable(e)
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}
