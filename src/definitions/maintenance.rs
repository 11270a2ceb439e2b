//! Maintenance windows: checked as written (a bad matcher or zone names its field) and
//! compiled into the domain's [`MaintenanceWindow`].

use chrono::{Duration, NaiveTime};
use prost::Message;
use uuid::Uuid;

use super::{Invalid, LoadError, fields};
use crate::domain::maintenance::{MaintenanceAction, MaintenanceWindow, Pattern, Recurrence};
use crate::domain::matcher::Matcher;
use crate::pb::alerting::routing::v1 as pb;
use crate::store::StoredDefinition;

/// Checks a window as written and compiles it; errors name the field under `window`.
pub fn compile(window: &pb::MaintenanceWindow, id: Uuid) -> Result<MaintenanceWindow, Invalid> {
    if window.name.trim().is_empty() {
        return Err(Invalid::field("window.name", "required"));
    }
    let starts_at = fields::instant(
        "window.start_time",
        window
            .start_time
            .as_ref()
            .ok_or_else(|| Invalid::field("window.start_time", "required"))?,
    )?;
    let ends_at = window
        .end_time
        .as_ref()
        .map(|t| fields::instant("window.end_time", t))
        .transpose()?;
    if ends_at.is_some_and(|end| end <= starts_at) {
        return Err(Invalid::field("window.end_time", "must be after the start"));
    }
    let action = match pb::MaintenanceAction::try_from(window.action) {
        Ok(pb::MaintenanceAction::Suppress) => MaintenanceAction::Suppress,
        Ok(pb::MaintenanceAction::Annotate) => MaintenanceAction::Annotate,
        Ok(pb::MaintenanceAction::ReduceSeverity) => MaintenanceAction::ReduceSeverity,
        _ => return Err(Invalid::field("window.action", "required")),
    };
    let services = window
        .affected_services
        .iter()
        .enumerate()
        .map(|(i, s)| fields::id(&format!("window.affected_services[{i}]"), s))
        .collect::<Result<Vec<_>, _>>()?;
    let matchers = window
        .affected_labels
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Matcher::parse(m)
                .map_err(|e| Invalid::field(format!("window.affected_labels[{i}]"), e.reason))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let recurrence = window.recurrence.as_ref().map(recurrence).transpose()?;
    Ok(MaintenanceWindow {
        id,
        name: window.name.clone(),
        starts_at,
        ends_at,
        recurrence,
        sites: window.affected_sites.clone(),
        services,
        matchers,
        action,
    })
}

fn recurrence(r: &pb::MaintenanceRecurrence) -> Result<Recurrence, Invalid> {
    let at = "window.recurrence";
    let zone = r.timezone.parse().map_err(|_| {
        Invalid::field(
            format!("{at}.timezone"),
            format!("not an IANA zone: {:?}", r.timezone),
        )
    })?;
    let pattern = match pb::RecurrenceFrequency::try_from(r.frequency) {
        Ok(pb::RecurrenceFrequency::Weekly) => {
            if r.days_of_week.is_empty() || r.days_of_week.iter().any(|d| !(0..=6).contains(d)) {
                return Err(Invalid::field(
                    format!("{at}.days_of_week"),
                    "0 (Sunday) to 6, at least one",
                ));
            }
            Pattern::Weekly(r.days_of_week.iter().map(|d| *d as u8).collect())
        }
        Ok(pb::RecurrenceFrequency::Monthly) => {
            if r.days_of_month.is_empty() || r.days_of_month.iter().any(|d| !(1..=31).contains(d)) {
                return Err(Invalid::field(
                    format!("{at}.days_of_month"),
                    "1 to 31, at least one",
                ));
            }
            Pattern::Monthly(r.days_of_month.iter().map(|d| *d as u32).collect())
        }
        _ => return Err(Invalid::field(format!("{at}.frequency"), "required")),
    };
    let start = NaiveTime::parse_from_str(&r.start_time, "%H:%M").map_err(|_| {
        Invalid::field(
            format!("{at}.start_time"),
            format!("{:?} is not HH:MM", r.start_time),
        )
    })?;
    let duration = r
        .duration
        .as_ref()
        .filter(|d| d.seconds > 0)
        .and_then(|d| Duration::try_seconds(d.seconds))
        .ok_or_else(|| Invalid::field(format!("{at}.duration"), "must be positive"))?;
    Ok(Recurrence {
        zone,
        pattern,
        start,
        duration,
    })
}

/// A stored window as it was written.
pub fn decode(stored: &StoredDefinition) -> Result<pb::MaintenanceWindow, LoadError> {
    let mut window = pb::MaintenanceWindow::decode(stored.body.as_slice()).map_err(|e| {
        LoadError::Unreadable {
            noun: "maintenance window",
            id: stored.id,
            why: e.to_string(),
        }
    })?;
    window.id = stored.id.to_string();
    Ok(window)
}
