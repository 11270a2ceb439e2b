//! The one place HTTP errors become responses.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::actors::EngineError;
use crate::auth::AuthError;
use crate::domain::incoming::AlertProblem;

#[derive(Debug)]
pub enum ApiError {
    /// 400: malformed JSON or a missing/invalid field.
    BadRequest { field: String, error: String },
    /// 401: unknown, revoked or missing key (one answer for all).
    Unauthorized,
    /// 401: the API token (calendar feeds) is unknown, revoked, missing, or not a user's.
    BadToken,
    /// 401: a signed callback (Slack, Twilio) whose signature does not verify.
    BadSignature(String),
    /// 404: no such webhook format, schedule or user.
    NotFound(String),
    /// 413: body over the limit, or an alert over its limits.
    TooLarge { field: String, error: String },
    /// 415: not JSON.
    UnsupportedMediaType(String),
    /// 429 or 503 with Retry-After: the engine is full or the key is over its rate.
    Busy {
        status: StatusCode,
        retry_after: Duration,
        error: String,
    },
    /// 503: storage or the engine is unavailable; nothing was acknowledged.
    Unavailable(String),
}

impl ApiError {
    pub fn bad_request(field: impl Into<String>, error: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            field: field.into(),
            error: error.into(),
        }
    }

    pub fn from_problem(problem: AlertProblem) -> ApiError {
        match problem {
            AlertProblem::Invalid { field, reason } => ApiError::BadRequest {
                field,
                error: reason,
            },
            AlertProblem::TooLarge { field, reason } => ApiError::TooLarge {
                field,
                error: reason,
            },
        }
    }

    pub fn from_auth(error: AuthError) -> ApiError {
        match error {
            AuthError::Missing | AuthError::Invalid => ApiError::Unauthorized,
            AuthError::Store(e) => ApiError::Unavailable(format!("storage unavailable: {e}")),
        }
    }

    /// `busy` is the status this sender retries on: 503 for Alertmanager and Grafana
    /// (they retry 5xx only), 429 for the rest.
    pub fn from_engine(error: EngineError, busy: StatusCode) -> ApiError {
        match error {
            EngineError::Overloaded => ApiError::Busy {
                status: busy,
                retry_after: Duration::from_secs(1),
                error: error.to_string(),
            },
            other => {
                tracing::error!(error = %other, "ingest failed");
                ApiError::Unavailable(other.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body, retry_after) = match self {
            ApiError::BadRequest { field, error } => (
                StatusCode::BAD_REQUEST,
                json!({"error": error, "field": field}),
                None,
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "unknown or revoked integration key", "field": "integration_key"}),
                None,
            ),
            ApiError::BadToken => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "unknown, revoked or missing API token", "field": "token"}),
                None,
            ),
            ApiError::BadSignature(error) => (
                StatusCode::UNAUTHORIZED,
                json!({"error": error, "field": "signature"}),
                None,
            ),
            ApiError::NotFound(error) => (StatusCode::NOT_FOUND, json!({"error": error}), None),
            ApiError::TooLarge { field, error } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": error, "field": field}),
                None,
            ),
            ApiError::UnsupportedMediaType(error) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({"error": error, "field": "content-type"}),
                None,
            ),
            ApiError::Busy {
                status,
                retry_after,
                error,
            } => (status, json!({"error": error}), Some(retry_after)),
            ApiError::Unavailable(error) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": error}),
                Some(Duration::from_secs(1)),
            ),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(wait) = retry_after {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
