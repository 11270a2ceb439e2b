//! Handoff summaries: what an incoming on-call person inherits (the alerts open on the
//! team's services) and what happened during the shift that ends.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::definitions::{Definitions, LoadError};
use crate::domain::alert::{Alert, AlertStatus};
use crate::domain::schedule::Schedule;
use crate::pb::alerting::routing::v1 as pb;
use crate::store::{AlertQuery, Store, StoredHandoff};

/// Alerts a handoff summary lists, per list.
const SUMMARY_ALERTS: i64 = 100;

pub struct HandoffSummary {
    pub open_alerts: Vec<Alert>,
    pub shift_alerts: Vec<Alert>,
    /// When the shift that ends began, when the rotation says.
    pub shift_start: Option<DateTime<Utc>>,
}

/// A handoff with the open alerts on the team's services (every service when the
/// schedule has no team, or the team names none) and the alerts of the shift it ends.
pub async fn summarize(
    store: &Arc<dyn Store>,
    schedule: &pb::Schedule,
    compiled: &Schedule,
    handoff: &StoredHandoff,
) -> Result<HandoffSummary, LoadError> {
    let services: Vec<Option<Uuid>> = match Uuid::parse_str(&schedule.team_id).ok() {
        Some(team) => {
            let teams: Definitions<pb::Team> = Definitions::new(store.clone());
            let ids: Vec<Option<Uuid>> = teams
                .find(team)
                .await?
                .map(|t| {
                    t.service_ids
                        .iter()
                        .filter_map(|s| Uuid::parse_str(s).ok())
                        .map(Some)
                        .collect()
                })
                .unwrap_or_default();
            if ids.is_empty() { vec![None] } else { ids }
        }
        None => vec![None],
    };
    let shift_start = compiled
        .rotations
        .iter()
        .find(|r| r.id == handoff.rotation_id)
        .and_then(|r| {
            let index = r.shift_index_at(compiled.time_zone, handoff.at - TimeDelta::seconds(1))?;
            r.shift_bounds(compiled.time_zone, index)
                .map(|(start, _)| start)
        });
    let mut open_alerts = Vec::new();
    let mut shift_alerts = Vec::new();
    for service in services {
        let open = store
            .list_alerts(&AlertQuery {
                statuses: vec![AlertStatus::Triggered, AlertStatus::Acknowledged],
                service_id: service,
                limit: SUMMARY_ALERTS,
                ..AlertQuery::default()
            })
            .await?;
        open_alerts.extend(open.items);
        if let Some(start) = shift_start {
            let during = store
                .list_alerts(&AlertQuery {
                    service_id: service,
                    triggered_from: Some(start),
                    triggered_to: Some(handoff.at),
                    limit: SUMMARY_ALERTS,
                    ..AlertQuery::default()
                })
                .await?;
            shift_alerts.extend(during.items);
        }
    }
    Ok(HandoffSummary {
        open_alerts,
        shift_alerts,
        shift_start,
    })
}
