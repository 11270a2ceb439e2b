//! Wire formats senders use, each parsed into [`IncomingAlert`]s. Parsing names the
//! field at fault (`alerts[17].labels`) through serde_path_to_error.

pub mod alertmanager;
pub mod generic;
pub mod grafana;
pub mod pagerduty;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::domain::incoming::IncomingAlert;

/// The alerts of one request.
pub struct ParsedRequest {
    pub alerts: Vec<IncomingAlert>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Alertmanager,
    Grafana,
    Generic,
    PagerDuty,
}

impl Format {
    pub fn from_path(segment: &str) -> Result<Format, ApiError> {
        match segment {
            "alertmanager" => Ok(Format::Alertmanager),
            "grafana" => Ok(Format::Grafana),
            "generic" => Ok(Format::Generic),
            other => Err(ApiError::NotFound(format!(
                "no webhook format {other:?}: use alertmanager, grafana or generic"
            ))),
        }
    }

    pub fn parse(self, body: &[u8]) -> Result<ParsedRequest, ApiError> {
        match self {
            Format::Alertmanager => alertmanager::parse(body),
            Format::Grafana => grafana::parse(body),
            Format::Generic => generic::parse(body),
            Format::PagerDuty => pagerduty::parse(body).map(|event| ParsedRequest {
                alerts: vec![event.alert],
            }),
        }
    }

    /// Alertmanager and Grafana retry only 5xx, so they are told 503 when busy.
    pub fn busy_status(self) -> StatusCode {
        match self {
            Format::Alertmanager | Format::Grafana => StatusCode::SERVICE_UNAVAILABLE,
            Format::Generic | Format::PagerDuty => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// Deserialises JSON, naming the path of the first field at fault. Well-formed bodies
/// (nearly all of them) take the plain parse; only a rejected one is parsed again with
/// the path tracked, which costs a good share of a storm's parse time.
pub fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if let Ok(parsed) = serde_json::from_slice(body) {
        return Ok(parsed);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::bad_request(field, e.into_inner().to_string())
    })
}

/// Alertmanager and Grafana send `0001-01-01T00:00:00Z` for "no time".
pub fn real_time(at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    at.filter(|t| t.timestamp() > 0)
}
