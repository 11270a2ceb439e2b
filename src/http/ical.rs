//! iCalendar feeds (RFC 5545): a schedule's shifts, and one user's shifts over every
//! schedule, from a week back to `days` ahead (default 60). Calendar clients cannot
//! send headers, so the API token may come as `?token=`; any user token may read.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use icalendar::{Calendar, Component, Event, EventLike};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiError, AppState};
use crate::definitions::{Definitions, LoadError, schedule};
use crate::domain::access::{Action, Principal, authorize};
use crate::domain::schedule::{Shift, ShiftSource};
use crate::pb::alerting::routing::v1 as pb;

/// How far back a feed starts.
const PAST: TimeDelta = TimeDelta::days(7);
/// Longest look ahead a feed serves, inside the schedule maths' range cap.
const MAX_DAYS: i64 = 365;

#[derive(Deserialize)]
pub struct Feed {
    token: Option<String>,
    days: Option<i64>,
}

async fn reader(state: &AppState, feed: &Feed, headers: &HeaderMap) -> Result<(), ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let secret = feed.token.as_deref().or(bearer).ok_or(ApiError::BadToken)?;
    let principal = state
        .auth
        .authenticate(secret)
        .await
        .map_err(|_| ApiError::BadToken)?;
    if !matches!(principal, Principal::User { .. }) || authorize(&principal, Action::Read).is_err()
    {
        return Err(ApiError::BadToken);
    }
    Ok(())
}

fn status_error(error: LoadError) -> ApiError {
    match error {
        LoadError::NotFound { .. } => ApiError::NotFound(error.to_string()),
        _ => ApiError::Unavailable(error.to_string()),
    }
}

fn parse_id(field: &str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value)
        .map_err(|_| ApiError::bad_request(field, format!("not a UUID: {value:?}")))
}

/// A compiled schedule's shifts over the feed's range.
fn shifts(schedule: &pb::Schedule, feed: &Feed) -> Result<Vec<Shift>, ApiError> {
    let days = feed.days.unwrap_or(60);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_request("days", format!("1 to {MAX_DAYS}")));
    }
    let compiled = schedule::compile(schedule).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let now = crate::clock::now();
    compiled
        .shifts(now - PAST, now + TimeDelta::days(days))
        .map_err(|e| ApiError::bad_request("days", e.to_string()))
}

fn event(schedule: &pb::Schedule, shift: &Shift, summary: String) -> Event {
    let origin = match shift.source {
        ShiftSource::Rotation => shift.rotation_id.map(|r| format!("rotation {r}")),
        ShiftSource::Override => shift.override_id.map(|o| format!("override {o}")),
    }
    .unwrap_or_default();
    Event::new()
        .uid(&format!(
            "{}-{}-{}-{}@oncall",
            schedule.id,
            shift.user_id,
            shift.level,
            shift.start.timestamp()
        ))
        .summary(&summary)
        .description(&format!(
            "{} level {} ({origin})",
            schedule.name, shift.level
        ))
        .starts(shift.start)
        .ends(shift.end)
        .done()
}

fn calendar_response(calendar: Calendar) -> Response {
    (
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        calendar.to_string(),
    )
        .into_response()
}

pub async fn schedule_feed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(feed): Query<Feed>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    reader(&state, &feed, &headers).await?;
    let id = parse_id("id", &id)?;
    let schedules: Definitions<pb::Schedule> = Definitions::new(state.store.clone());
    let (schedule, _) = schedules.get(id).await.map_err(status_error)?;
    let mut names: HashMap<Uuid, String> = HashMap::new();
    let mut calendar = Calendar::new();
    calendar.name(&format!("On call: {}", schedule.name));
    for shift in shifts(&schedule, &feed)? {
        let who = match names.entry(shift.user_id) {
            Entry::Occupied(name) => name.get().clone(),
            Entry::Vacant(slot) => {
                let name = match state.store.get_user(shift.user_id).await {
                    Ok(Some(user)) => user.name,
                    Ok(None) => shift.user_id.to_string(),
                    Err(e) => {
                        return Err(ApiError::Unavailable(format!("storage unavailable: {e}")));
                    }
                };
                slot.insert(name).clone()
            }
        };
        calendar.push(event(
            &schedule,
            &shift,
            format!("{who} on call (level {})", shift.level),
        ));
    }
    Ok(calendar_response(calendar.done()))
}

pub async fn user_feed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(feed): Query<Feed>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    reader(&state, &feed, &headers).await?;
    let id = parse_id("id", &id)?;
    let user = match state.store.get_user(id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Err(ApiError::NotFound(format!("user {id} not found"))),
        Err(e) => return Err(ApiError::Unavailable(format!("storage unavailable: {e}"))),
    };
    let schedules: Definitions<pb::Schedule> = Definitions::new(state.store.clone());
    let mut calendar = Calendar::new();
    calendar.name(&format!("On call: {}", user.name));
    for schedule in schedules.list().await.map_err(status_error)? {
        for shift in shifts(&schedule, &feed)?.iter().filter(|s| s.user_id == id) {
            calendar.push(event(
                &schedule,
                shift,
                format!("On call: {} (level {})", schedule.name, shift.level),
            ));
        }
    }
    Ok(calendar_response(calendar.done()))
}
