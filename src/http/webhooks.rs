//! Webhook handlers: key → content type → body size → parse → validate → flood guard →
//! engine, in that order, answering only after the alerts are committed.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::formats::{self, Format, ParsedRequest};
use super::{ApiError, AppState};
use crate::actors::Admission;
use crate::actors::engine::IngestReport;
use crate::domain::access::Principal;
use crate::domain::incoming::validate_batch;
use crate::domain::lifecycle::IngestOutcome;
use crate::telemetry::Rejection;

pub async fn with_path_key(
    State(app): State<AppState>,
    Path((format, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let format = Format::from_path(&format)?;
    receive(&app, format, &key, &headers, body).await
}

pub async fn with_header_key(
    State(app): State<AppState>,
    Path(format): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let format = Format::from_path(&format)?;
    let key = header_key(&headers).ok_or(ApiError::Unauthorized)?;
    receive(&app, format, &key, &headers, body).await
}

/// PagerDuty Events API v2: the key is the body's `routing_key`, so the body is read
/// (within the limit) before the key is checked.
pub async fn pagerduty(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_content_type(&headers)?;
    let bytes = read_body(&app, body).await?;
    let event = formats::pagerduty::parse(&bytes)?;
    let (service_id, key_id) = integration_key(&app, &event.routing_key).await?;
    let dedup_key = event.dedup_key.clone();
    let request = ParsedRequest {
        alerts: vec![event.alert],
    };
    ingest(&app, Format::PagerDuty, service_id, key_id, request).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})),
    ))
}

async fn receive(
    app: &AppState,
    format: Format,
    key: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (service_id, key_id) = integration_key(app, key).await?;
    check_content_type(headers)?;
    let bytes = read_body(app, body).await?;
    let request = format.parse(&bytes)?;
    let report = ingest(app, format, service_id, key_id, request).await?;
    let count = |outcome| {
        report
            .results
            .iter()
            .filter(|r| r.outcome == outcome)
            .count()
    };
    let mut answer = json!({
        "status": "success",
        "received": report.results.len(),
        "created": count(IngestOutcome::Created),
        "deduplicated": count(IngestOutcome::Deduplicated),
        "resolved": count(IngestOutcome::Resolved),
        "ignored": count(IngestOutcome::Ignored),
    });
    if let (Format::Generic, [result]) = (format, report.results.as_slice())
        && let Some(alert) = &result.alert
    {
        answer["alert"] = json!({
            "id": alert.id.to_string(),
            "number": alert.number,
            "fingerprint": alert.key.fingerprint,
        });
    }
    Ok(Json(answer))
}

async fn ingest(
    app: &AppState,
    format: Format,
    service_id: uuid::Uuid,
    key_id: uuid::Uuid,
    request: ParsedRequest,
) -> Result<IngestReport, ApiError> {
    let checked = match format {
        // One alert per request: its fields are named as the sender wrote them.
        Format::Generic | Format::PagerDuty => request
            .alerts
            .iter()
            .try_for_each(|alert| alert.validate(&app.limits)),
        Format::Alertmanager | Format::Grafana => validate_batch(&request.alerts, &app.limits),
    };
    checked.map_err(ApiError::from_problem)?;
    let busy = format.busy_status();
    if let Err(wait) = app.flood_guard.check(key_id, request.alerts.len()) {
        app.metrics
            .rejected(Rejection::FloodGuard, request.alerts.len());
        return Err(ApiError::Busy {
            status: busy,
            retry_after: wait,
            error: "this integration key is over its rate".into(),
        });
    }
    app.engine
        .ingest(service_id, request.alerts, Admission::Immediate)
        .await
        .map_err(|e| ApiError::from_engine(e, busy))
}

/// The key from `Authorization: Bearer KEY` or `X-Integration-Key: KEY`.
fn header_key(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION)
        && let Ok(value) = value.to_str()
        && let Some(key) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
    {
        return Some(key.trim().to_string());
    }
    headers
        .get("x-integration-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

async fn integration_key(app: &AppState, key: &str) -> Result<(uuid::Uuid, uuid::Uuid), ApiError> {
    match app.auth.authenticate(key).await {
        Ok(Principal::Integration { service_id, key_id }) => Ok((service_id, key_id)),
        // A user's API token is not an integration key: it names no service.
        Ok(Principal::User { .. }) => Err(ApiError::Unauthorized),
        Err(e) => Err(ApiError::from_auth(e)),
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "expected application/json, got {:?}",
            value
        )))
    }
}

async fn read_body(app: &AppState, body: Body) -> Result<bytes::Bytes, ApiError> {
    let too_large = || ApiError::TooLarge {
        field: "body".into(),
        error: format!("request body over {} bytes", app.max_body_bytes),
    };
    axum::body::to_bytes(body, app.max_body_bytes)
        .await
        .map_err(|_| too_large())
}
