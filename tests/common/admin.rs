//! Typed admin helpers: the requests tests repeat (a pageable user, a schedule, a policy,
//! an alert, a chain and its status), built once here and sent with the admin token.

use oncall::pb::alerting::routing::v1 as routing;
use oncall::pb::alerting::v1 as alerting;
use oncall::pb::directory::v1 as dir;

use super::{ADMIN_TOKEN, Server, authed};

/// A protobuf duration of whole seconds.
pub fn seconds(s: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: s,
        nanos: 0,
    })
}

/// A step `delay` seconds after the previous one, paging `targets`.
pub fn step(delay: i64, targets: Vec<routing::EscalationTarget>) -> routing::EscalationStep {
    routing::EscalationStep {
        delay: seconds(delay),
        targets,
        ..Default::default()
    }
}

pub fn to_user(user: &str) -> routing::EscalationTarget {
    routing::EscalationTarget {
        r#type: routing::EscalationTargetType::User as i32,
        user_id: user.into(),
        ..Default::default()
    }
}

/// Whoever is on call at level 1 of the schedule.
pub fn on_schedule(schedule: &str) -> routing::EscalationTarget {
    routing::EscalationTarget {
        r#type: routing::EscalationTargetType::Schedule as i32,
        schedule_id: schedule.into(),
        level: 1,
        ..Default::default()
    }
}

impl Server {
    /// A user paged through a verified webhook on the sink, at `/<name>`.
    pub async fn pageable_user(&self, sink: &str, name: &str) -> String {
        let (user, _) = self.user_with_token(name, dir::Role::Responder).await;
        self.users()
            .await
            .add_contact_method(authed(
                dir::AddContactMethodRequest {
                    user_id: user.clone(),
                    method: Some(dir::ContactMethod {
                        r#type: dir::ContactMethodType::Webhook as i32,
                        address: format!("{sink}/{name}"),
                        verified: true,
                        ..Default::default()
                    }),
                },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap();
        user
    }

    /// A schedule whose one daily rotation has `user` on call from `start` (unix s).
    pub async fn daily_schedule(&self, name: &str, user: &str, start: i64) -> String {
        self.schedules()
            .await
            .create_schedule(authed(
                routing::CreateScheduleRequest {
                    schedule: Some(routing::Schedule {
                        name: name.into(),
                        timezone: "UTC".into(),
                        rotations: vec![routing::Rotation {
                            name: "level 1".into(),
                            r#type: routing::RotationType::Daily as i32,
                            members: vec![routing::RotationMember {
                                user_id: user.into(),
                                position: 1,
                            }],
                            start_time: Some(prost_types::Timestamp {
                                seconds: start,
                                nanos: 0,
                            }),
                            shift_config: Some(routing::ShiftConfig {
                                handoff_time: "08:00".into(),
                                ..Default::default()
                            }),
                            level: 1,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner()
            .id
    }

    /// An escalation policy of these steps; its id.
    pub async fn policy(&self, name: &str, steps: Vec<routing::EscalationStep>) -> String {
        self.escalation()
            .await
            .create_escalation_policy(authed(
                routing::CreateEscalationPolicyRequest {
                    policy: Some(routing::EscalationPolicy {
                        name: name.into(),
                        steps,
                        ..Default::default()
                    }),
                },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner()
            .id
    }

    /// A critical alert sent to the generic webhook; its id.
    pub async fn generic_alert(&self, key: &str, summary: &str) -> String {
        let body = serde_json::json!({"summary": summary, "severity": "critical"}).to_string();
        let (status, _, answer) = self
            .post_json(&format!("/api/v1/webhook/generic/{key}"), &body)
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["alert"]["id"]
            .as_str()
            .expect("the alert's id")
            .to_string()
    }

    pub async fn start_escalation(&self, alert: &str, policy: &str) -> routing::EscalationStatus {
        self.escalation()
            .await
            .start_escalation(authed(
                routing::StartEscalationRequest {
                    alert_id: alert.into(),
                    policy_id: policy.into(),
                },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// The alert's first chain, as GetEscalationStatus shows it.
    pub async fn escalation_status(&self, alert: &str) -> routing::EscalationStatus {
        self.escalation()
            .await
            .get_escalation_status(authed(
                routing::GetEscalationStatusRequest {
                    alert_id: alert.into(),
                },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner()
            .chains
            .remove(0)
    }

    /// The alert's timeline.
    pub async fn events_of(&self, alert: &str) -> Vec<alerting::AlertEvent> {
        self.alerts()
            .await
            .get_alert_events(authed(
                alerting::GetAlertEventsRequest { id: alert.into() },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner()
            .events
    }
}
