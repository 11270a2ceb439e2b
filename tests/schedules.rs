//! Teams and schedules over gRPC, as an operator uses them: a NOC rotation in New York
//! across the 2026 spring-forward, overrides, level fallback, coverage gaps, the
//! iCalendar feed parsed back, and a handoff that waits for its acknowledgement.

mod common;

use common::{ADMIN_TOKEN, Db, Server, authed, eventually, webhook_sink};
use icalendar::{Calendar, CalendarComponent, Component};

use oncall::pb::alerting::routing::v1 as pb;
use oncall::pb::directory::v1 as dir;
use tonic::Code;

fn ts(text: &str) -> Option<prost_types::Timestamp> {
    let at = chrono::DateTime::parse_from_rfc3339(text).unwrap();
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

fn seconds(s: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: s,
        nanos: 0,
    })
}

fn members(users: &[&str]) -> Vec<pb::RotationMember> {
    users
        .iter()
        .enumerate()
        .map(|(i, u)| pb::RotationMember {
            user_id: u.to_string(),
            position: i as i32 + 1,
        })
        .collect()
}

fn daily(users: &[&str], start: &str, level: i32) -> pb::Rotation {
    pb::Rotation {
        name: format!("level {level}"),
        r#type: pb::RotationType::Daily as i32,
        members: members(users),
        start_time: ts(start),
        shift_config: Some(pb::ShiftConfig {
            handoff_time: "08:00".into(),
            ..Default::default()
        }),
        level,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_new_york_rotation_answers_who_is_on_call_across_the_spring_forward() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (alice, _) = server.user_with_token("alice", dir::Role::Responder).await;
    let (bob, _) = server.user_with_token("bob", dir::Role::Responder).await;
    let (carol, carol_token) = server.user_with_token("carol", dir::Role::Viewer).await;
    let mut schedules = server.schedules().await;

    // Every problem is named by its field, all at once.
    let mut bad = daily(&[&alice], "2026-03-01T13:00:00Z", 1);
    if let Some(config) = bad.shift_config.as_mut() {
        config.handoff_time = "25:00".into();
    }
    let err = schedules
        .create_schedule(authed(
            pb::CreateScheduleRequest {
                schedule: Some(pb::Schedule {
                    name: "NOC".into(),
                    timezone: "Mars/Olympus".into(),
                    rotations: vec![bad],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("schedule.timezone"),
        "{}",
        err.message()
    );
    assert!(
        err.message()
            .contains("schedule.rotations[0].shift_config.handoff_time"),
        "{}",
        err.message()
    );
    let ghost = schedules
        .create_schedule(authed(
            pb::CreateScheduleRequest {
                schedule: Some(pb::Schedule {
                    name: "NOC".into(),
                    timezone: "America/New_York".into(),
                    rotations: vec![daily(
                        &[&uuid::Uuid::new_v4().to_string()],
                        "2026-03-01T13:00:00Z",
                        1,
                    )],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(ghost.code(), Code::InvalidArgument);
    assert!(
        ghost.message().contains("no such user"),
        "{}",
        ghost.message()
    );

    // Alice and Bob alternate days from Sunday 1 March, 08:00 New York; Carol is the
    // secondary from Thursday 5 March.
    let schedule = schedules
        .create_schedule(authed(
            pb::CreateScheduleRequest {
                schedule: Some(pb::Schedule {
                    name: "NOC".into(),
                    timezone: "America/New_York".into(),
                    rotations: vec![
                        daily(&[&alice, &bob], "2026-03-01T13:00:00Z", 1),
                        daily(&[&carol], "2026-03-05T13:00:00Z", 2),
                    ],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let on_call = async |schedules: &mut pb::schedule_service_client::ScheduleServiceClient<_>,
                         at: &str| {
        schedules
            .get_on_call_at_time(authed(
                pb::GetOnCallAtTimeRequest {
                    schedule_id: schedule.id.clone(),
                    time: ts(at),
                },
                &carol_token,
            ))
            .await
            .unwrap()
            .into_inner()
    };
    // Saturday 7 March, 07:00 EST: the sixth shift (Bob's) has an hour to go.
    let saturday = on_call(&mut schedules, "2026-03-07T12:00:00Z").await;
    assert_eq!(saturday.primary_user_id, bob);
    assert_eq!(saturday.secondary_user_id, carol);
    assert_eq!(saturday.levels.len(), 2);
    assert_eq!(
        saturday.next_handoff.as_ref().unwrap().at,
        ts("2026-03-07T13:00:00Z")
    );
    // Before the rotation starts nobody is on call.
    let before = on_call(&mut schedules, "2026-02-28T12:00:00Z").await;
    assert!(before.primary_user_id.is_empty());

    // The shift across the spring-forward is 23 hours: 08:00 EST to 08:00 EDT.
    let shifts = schedules
        .list_upcoming_shifts(authed(
            pb::ListUpcomingShiftsRequest {
                schedule_id: schedule.id.clone(),
                start_time: ts("2026-03-07T12:00:00Z"),
                end_time: ts("2026-03-09T00:00:00Z"),
                user_id: alice.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .shifts;
    let dst_shift = shifts
        .iter()
        .find(|s| s.start_time == ts("2026-03-07T13:00:00Z"))
        .expect("Alice's Saturday shift");
    assert_eq!(dst_shift.end_time, ts("2026-03-08T12:00:00Z"));
    assert_eq!(dst_shift.source, pb::ShiftSource::Rotation as i32);

    // Carol covers Bob on Saturday morning: an override beats the rotation.
    let cover = schedules
        .create_override(authed(
            pb::CreateOverrideRequest {
                schedule_id: schedule.id.clone(),
                r#override: Some(pb::ScheduleOverride {
                    r#type: pb::OverrideType::Replace as i32,
                    user_id: carol.clone(),
                    replaced_user_id: bob.clone(),
                    level: 1,
                    start_time: ts("2026-03-07T10:00:00Z"),
                    end_time: ts("2026-03-07T14:00:00Z"),
                    reason: "swap".into(),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        on_call(&mut schedules, "2026-03-07T12:00:00Z")
            .await
            .primary_user_id,
        carol
    );
    let listed = schedules
        .list_overrides(authed(
            pb::ListOverridesRequest {
                schedule_id: schedule.id.clone(),
                start_time: ts("2026-03-07T00:00:00Z"),
                end_time: ts("2026-03-08T00:00:00Z"),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.overrides, vec![cover.clone()]);
    schedules
        .delete_override(authed(
            pb::DeleteOverrideRequest {
                schedule_id: schedule.id.clone(),
                override_id: cover.id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    assert_eq!(
        on_call(&mut schedules, "2026-03-07T12:00:00Z")
            .await
            .primary_user_id,
        bob
    );

    // Bob off sick: level 1 is empty, so a page falls back to level 2.
    schedules
        .create_override(authed(
            pb::CreateOverrideRequest {
                schedule_id: schedule.id.clone(),
                r#override: Some(pb::ScheduleOverride {
                    r#type: pb::OverrideType::Remove as i32,
                    user_id: bob.clone(),
                    level: 1,
                    start_time: ts("2026-03-07T10:00:00Z"),
                    end_time: ts("2026-03-07T13:00:00Z"),
                    reason: "sick".into(),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let sick = on_call(&mut schedules, "2026-03-07T12:00:00Z").await;
    assert!(sick.primary_user_id.is_empty());
    assert_eq!(sick.paging_level, 2);
    assert!(sick.fallback);

    // Level 2 has nobody before Carol's rotation starts.
    let gaps = schedules
        .get_coverage_gaps(authed(
            pb::GetCoverageGapsRequest {
                schedule_id: schedule.id.clone(),
                start_time: ts("2026-03-01T00:00:00Z"),
                end_time: ts("2026-03-06T00:00:00Z"),
                level: 2,
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .gaps;
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].start_time, ts("2026-03-01T00:00:00Z"));
    assert_eq!(gaps[0].end_time, ts("2026-03-05T13:00:00Z"));

    // A viewer may read but not change schedules.
    let denied = schedules
        .delete_schedule(authed(
            pb::DeleteScheduleRequest {
                id: schedule.id.clone(),
            },
            &carol_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The calendar feed parses back as RFC 5545 with one event per shift.
    let client = reqwest::Client::new();
    let feed = client
        .get(server.http(&format!(
            "/api/v1/schedules/{}/ical?token={carol_token}",
            schedule.id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let text = feed.text().await.unwrap();
    let calendar: Calendar = text.parse().expect("valid iCalendar");
    let events: Vec<_> = calendar
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(!events.is_empty(), "{text}");
    assert!(
        events
            .iter()
            .all(|e| e.get_start().is_some() && e.get_end().is_some())
    );
    assert!(
        events
            .iter()
            .any(|e| e.get_summary().is_some_and(|s| s.starts_with("alice"))),
        "{text}"
    );
    let mine = client
        .get(server.http(&format!("/api/v1/users/{alice}/ical")))
        .bearer_auth(&carol_token)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200);
    let unauthorized = client
        .get(server.http(&format!(
            "/api/v1/schedules/{}/ical?token=nope",
            schedule.id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
}

#[tokio::test]
async fn teams_keep_members_with_roles() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (alice, _) = server.user_with_token("alice", dir::Role::Responder).await;
    let (bob, _) = server.user_with_token("bob", dir::Role::Responder).await;
    let mut teams = server.teams().await;
    let team = teams
        .create_team(authed(
            pb::CreateTeamRequest {
                team: Some(pb::Team {
                    name: "NOC L1".into(),
                    tier: pb::NocTier::L1 as i32,
                    sites: vec!["IAD1".into()],
                    members: vec![pb::TeamMember {
                        user_id: alice.clone(),
                        role: pb::TeamRole::Lead as i32,
                    }],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let duplicate = teams
        .create_team(authed(
            pb::CreateTeamRequest {
                team: Some(pb::Team {
                    name: "NOC L1".into(),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let bad_url = teams
        .create_team(authed(
            pb::CreateTeamRequest {
                team: Some(pb::Team {
                    name: "NOC L2".into(),
                    webhook_url: "ftp://x".into(),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert!(bad_url.message().starts_with("team.webhook_url"));
    teams
        .add_team_member(authed(
            pb::AddTeamMemberRequest {
                team_id: team.id.clone(),
                member: Some(pb::TeamMember {
                    user_id: bob.clone(),
                    role: 0,
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let promoted = teams
        .update_team_member(authed(
            pb::UpdateTeamMemberRequest {
                team_id: team.id.clone(),
                member: Some(pb::TeamMember {
                    user_id: bob.clone(),
                    role: pb::TeamRole::Manager as i32,
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(promoted.members[1].role, pb::TeamRole::Manager as i32);
    let bobs = teams
        .get_user_teams(authed(
            pb::GetUserTeamsRequest {
                user_id: bob.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bobs.teams.len(), 1);
    teams
        .remove_team_member(authed(
            pb::RemoveTeamMemberRequest {
                team_id: team.id.clone(),
                user_id: bob.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let missing = teams
        .remove_team_member(authed(
            pb::RemoveTeamMemberRequest {
                team_id: team.id.clone(),
                user_id: bob,
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let listed = teams
        .list_teams(authed(
            pb::ListTeamsRequest {
                tier: pb::NocTier::L1 as i32,
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_count, 1);
}

#[tokio::test]
async fn a_handoff_waits_for_the_incoming_person_and_tells_the_managers_when_it_does_not_come() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (alice, alice_token) = server.user_with_token("alice", dir::Role::Responder).await;
    let (bob, bob_token) = server.user_with_token("bob", dir::Role::Responder).await;
    let (manager, _) = server.user_with_token("mia", dir::Role::Viewer).await;
    let team = server
        .teams()
        .await
        .create_team(authed(
            pb::CreateTeamRequest {
                team: Some(pb::Team {
                    name: "NOC".into(),
                    webhook_url: format!("{sink}/team"),
                    members: vec![
                        pb::TeamMember {
                            user_id: alice.clone(),
                            role: pb::TeamRole::Member as i32,
                        },
                        pb::TeamMember {
                            user_id: manager.clone(),
                            role: pb::TeamRole::Manager as i32,
                        },
                    ],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    // Bob is told through his own verified contact method too.
    server
        .users()
        .await
        .add_contact_method(authed(
            dir::AddContactMethodRequest {
                user_id: bob.clone(),
                method: Some(dir::ContactMethod {
                    r#type: dir::ContactMethodType::Webhook as i32,
                    address: format!("{sink}/bob"),
                    verified: true,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let mut schedules = server.schedules().await;
    // Six-second shifts from now: Alice, then Bob at +6 s (reminders at +4 s and +5 s),
    // who has 2 s to acknowledge.
    let start = chrono::Utc::now();
    let schedule = schedules
        .create_schedule(authed(
            pb::CreateScheduleRequest {
                schedule: Some(pb::Schedule {
                    name: "short".into(),
                    timezone: "Europe/London".into(),
                    team_id: team.id.clone(),
                    rotations: vec![pb::Rotation {
                        name: "fast".into(),
                        r#type: pb::RotationType::Custom as i32,
                        members: members(&[&alice, &bob]),
                        start_time: Some(prost_types::Timestamp {
                            seconds: start.timestamp(),
                            nanos: 0,
                        }),
                        shift_config: Some(pb::ShiftConfig {
                            shift_length: seconds(6),
                            ..Default::default()
                        }),
                        level: 1,
                        ..Default::default()
                    }],
                    handoff: Some(pb::HandoffConfig {
                        outgoing_reminder: seconds(2),
                        incoming_reminder: seconds(1),
                        require_ack: true,
                        escalate_if_no_ack: seconds(2),
                        webhook_url: String::new(),
                    }),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();

    let kinds = || {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _)| path == "/team")
            .map(|(_, body)| {
                format!(
                    "{}{}",
                    body["type"].as_str().unwrap_or(""),
                    body["to"]
                        .as_str()
                        .map(|t| format!(":{t}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
    };
    let posts = eventually("the unacknowledged handoff message", async || {
        let posts: Vec<_> = received
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _)| path == "/team")
            .cloned()
            .collect();
        posts
            .iter()
            .any(|(_, b)| b["type"] == "handoff.unacknowledged")
            .then_some(posts)
    })
    .await;
    let told_bob: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _)| path == "/bob")
        .map(|(_, body)| body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        told_bob
            .iter()
            .any(|t| t.starts_with("Reminder: your on-call shift on short starts")),
        "{told_bob:?}"
    );
    assert!(
        told_bob
            .iter()
            .any(|t| t.starts_with("You are on call on short from")),
        "{told_bob:?}"
    );
    assert_eq!(
        kinds()[..4],
        [
            "handoff.reminder:outgoing",
            "handoff.reminder:incoming",
            "handoff",
            "handoff.unacknowledged"
        ],
        "{posts:?}"
    );
    assert_eq!(posts[0].1["user_id"], alice.as_str());
    assert_eq!(posts[1].1["user_id"], bob.as_str());
    let unacked = &posts[3].1;
    assert_eq!(unacked["outgoing_user_id"], alice.as_str());
    assert_eq!(unacked["manager_user_ids"], serde_json::json!([manager]));

    // Until Bob acknowledges, Alice stays on call beside him.
    let now_on_call =
        async |schedules: &mut pb::schedule_service_client::ScheduleServiceClient<_>| {
            schedules
                .get_current_on_call(authed(
                    pb::GetCurrentOnCallRequest {
                        schedule_id: schedule.id.clone(),
                    },
                    ADMIN_TOKEN,
                ))
                .await
                .unwrap()
                .into_inner()
        };
    let held = now_on_call(&mut schedules).await;
    assert_eq!(held.primary_user_id, bob);
    assert_eq!(held.held_over_user_ids, vec![alice.clone()]);
    assert_eq!(held.levels[0].user_ids, vec![bob.clone(), alice.clone()]);

    let not_hers = schedules
        .acknowledge_handoff(authed(
            pb::AcknowledgeHandoffRequest {
                schedule_id: schedule.id.clone(),
                handoff_id: String::new(),
            },
            &alice_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(not_hers.code(), Code::PermissionDenied);
    let acked = schedules
        .acknowledge_handoff(authed(
            pb::AcknowledgeHandoffRequest {
                schedule_id: schedule.id.clone(),
                handoff_id: String::new(),
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!acked.awaiting_ack);
    assert_eq!(acked.acknowledged_by, bob);
    let after = now_on_call(&mut schedules).await;
    assert!(after.held_over_user_ids.is_empty());
    assert_eq!(after.levels[0].user_ids, vec![bob.clone()]);

    let summary = schedules
        .get_handoff_summary(authed(
            pb::GetHandoffSummaryRequest {
                schedule_id: schedule.id.clone(),
                handoff_id: acked.id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.handoff.unwrap().outgoing_user_id, alice);
    assert_eq!(
        summary.shift_start.map(|t| t.seconds),
        Some(start.timestamp())
    );
    let handoffs = schedules
        .list_handoffs(authed(
            pb::ListHandoffsRequest {
                schedule_id: schedule.id.clone(),
                page_size: 10,
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .handoffs;
    assert_eq!(handoffs[0].id, acked.id);
    let recorded: Vec<&str> = handoffs[0].events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        recorded,
        [
            "reminder.outgoing",
            "reminder.incoming",
            "handoff",
            "unacknowledged",
            "acknowledged"
        ]
    );
    assert!(handoffs[0].events[0].detail.contains("HTTP 200"));
}
