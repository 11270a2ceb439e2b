//! Definitions stored by an earlier release still load. `tests/fixtures/databases/` holds
//! a SQLite database and a PostgreSQL dump written by the release before the redesign
//! (commit fdb92a5), one definition of every kind in each; this build opens them,
//! migrates them, and decodes and compiles every definition through the same books the
//! engine uses.
//!
//! To write the fixtures again with some build of the server (the release whose
//! storage they should capture):
//! `ONCALL_BINARY=path/to/oncall ONCALL_TEST_DATABASE_URL=postgres://root@127.0.0.1:5432/test
//!  cargo nextest run --test stored_definitions --run-ignored only`

mod common;

use std::sync::Arc;

use common::admin::{step, to_user};
use common::{ADMIN_TOKEN, Db, Server, authed};
use oncall::books::{
    EnrichmentBook, InhibitionBook, PolicyBook, RuleBook, ScheduleBook, WindowBook,
};
use oncall::definitions::{Definitions, escalation, schedule, template};
use oncall::pb::alerting::routing::v1 as routing;
use oncall::pb::notification::v1 as notification;
use oncall::store::{Kind, Store};

const SQLITE_FIXTURE: &str = "tests/fixtures/databases/wave1.sqlite";
const POSTGRES_FIXTURE: &str = "tests/fixtures/databases/wave1.postgres.sql";

/// Every kind of definition the fixtures hold, one each.
async fn write_one_of_each(server: &Server) {
    let (alice, _) = server
        .user_with_token("alice", oncall::pb::directory::v1::Role::Responder)
        .await;
    let schedule = server.daily_schedule("NOC", &alice, 1_767_225_600).await;
    let policy = server
        .policy(
            "primary",
            vec![
                step(0, vec![to_user(&alice)]),
                step(300, vec![common::admin::on_schedule(&schedule)]),
            ],
        )
        .await;
    let mut routing_client = server.routing().await;
    routing_client
        .create_routing_rule(authed(
            routing::CreateRoutingRuleRequest {
                rule: Some(routing::RoutingRule {
                    name: "core routers page".into(),
                    priority: 10,
                    enabled: true,
                    conditions: vec![routing::RoutingCondition {
                        r#type: routing::ConditionType::Cel as i32,
                        cel_expression: "labels.site == 'IAD1'".into(),
                        ..Default::default()
                    }],
                    actions: vec![routing::RoutingAction {
                        r#type: routing::ActionType::Escalate as i32,
                        escalate: Some(routing::EscalateAction {
                            escalation_policy_id: policy.clone(),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    routing_client
        .update_default_routing(authed(
            routing::UpdateDefaultRoutingRequest {
                defaults: Some(routing::DefaultRouting {
                    actions: vec![routing::RoutingAction {
                        r#type: routing::ActionType::NotifyWebhook as i32,
                        notify_webhook: Some(routing::NotifyWebhookAction {
                            webhook_url: "https://noc.example.net/hook".into(),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    routing_client
        .create_inhibition_rule(authed(
            routing::CreateInhibitionRuleRequest {
                rule: Some(routing::InhibitionRule {
                    name: "site down hides its devices".into(),
                    source_matchers: vec!["alertname=\"SiteDown\"".into()],
                    target_matchers: vec!["severity=~\"warning|critical\"".into()],
                    equal: vec!["site".into()],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    server
        .maintenance()
        .await
        .create_maintenance_window(authed(
            routing::CreateMaintenanceWindowRequest {
                window: Some(routing::MaintenanceWindow {
                    name: "IAD1 fibre work".into(),
                    start_time: Some(prost_types::Timestamp {
                        seconds: 1_893_456_000,
                        nanos: 0,
                    }),
                    end_time: Some(prost_types::Timestamp {
                        seconds: 1_893_463_200,
                        nanos: 0,
                    }),
                    affected_sites: vec!["IAD1".into()],
                    action: routing::MaintenanceAction::Suppress as i32,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    server
        .teams()
        .await
        .create_team(authed(
            routing::CreateTeamRequest {
                team: Some(routing::Team {
                    name: "core".into(),
                    default_escalation_policy_id: policy.clone(),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    server
        .sites()
        .await
        .create_site(authed(
            routing::CreateSiteRequest {
                site: Some(routing::Site {
                    code: "IAD1".into(),
                    name: "Ashburn".into(),
                    r#type: routing::SiteType::Datacenter as i32,
                    tier: 1,
                    timezone: "America/New_York".into(),
                    device_patterns: vec!["\\.iad1$".into()],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    server
        .tiers()
        .await
        .create_customer_tier(authed(
            routing::CreateCustomerTierRequest {
                tier: Some(routing::CustomerTier {
                    name: "platinum".into(),
                    level: 1,
                    critical_response: common::admin::seconds(300),
                    escalation_multiplier: 0.5,
                    customers: vec!["ACME".into()],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    server
        .equipment()
        .await
        .create_equipment_type(authed(
            routing::CreateEquipmentTypeRequest {
                equipment_type: Some(routing::EquipmentType {
                    name: "core router".into(),
                    severity_boost: 1,
                    hostname_patterns: vec!["^core-rtr-".into()],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    server
        .carriers()
        .await
        .create_carrier(authed(
            routing::CreateCarrierRequest {
                carrier: Some(routing::CarrierConfig {
                    name: "Transit One".into(),
                    asn: "AS64500".into(),
                    relationship: routing::CarrierRelationship::Transit as i32,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    server
        .templates()
        .await
        .create_template(authed(
            notification::CreateTemplateRequest {
                template: Some(notification::Template {
                    name: "page".into(),
                    channels: vec![notification::ChannelTemplate {
                        channel: notification::ChannelType::Slack as i32,
                        content: "*{{ alert.summary }}* at {{ enrichment.site|default('?') }}"
                            .into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

/// Decodes and compiles everything stored, as the engine would at start.
async fn everything_loads(store: Arc<dyn Store>) {
    for kind in Kind::ALL {
        assert_eq!(
            store.list_definitions(kind).await.unwrap().len(),
            1,
            "one {} was stored",
            kind.noun()
        );
    }
    let rules = RuleBook::load(store.clone()).await.unwrap();
    assert_eq!(rules.broken(), Vec::<String>::new());
    assert_eq!(rules.current().rules().len(), 1);
    assert_eq!(
        WindowBook::load(store.clone())
            .await
            .unwrap()
            .current()
            .len(),
        1
    );
    assert!(
        InhibitionBook::load(store.clone())
            .await
            .unwrap()
            .has_rules()
    );
    let reference = EnrichmentBook::load(store.clone()).await.unwrap().current();
    assert!(reference.site("IAD1").is_some());
    let schedules = ScheduleBook::new(store.clone(), schedule::compile_paged);
    assert_eq!(schedules.all().await.unwrap().items().count(), 1);
    let policies = PolicyBook::new(store.clone(), escalation::compile);
    let (policy_id, _) = policies
        .all()
        .await
        .unwrap()
        .items()
        .next()
        .cloned()
        .unwrap();
    assert_eq!(
        policies.get(policy_id).await.unwrap().unwrap().steps.len(),
        2
    );
    let teams: Definitions<routing::Team> = Definitions::new(store.clone());
    assert_eq!(teams.list().await.unwrap()[0].name, "core");
    let stored = store.list_templates().await.unwrap();
    let (_, def) = template::load(store.as_ref(), stored[0].id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(def.channels.len(), 1);
}

#[tokio::test]
async fn definitions_stored_by_the_release_before_load_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(SQLITE_FIXTURE, dir.path().join("oncall.db")).unwrap();
    let store = oncall::store::open(&format!("sqlite://{}/oncall.db", dir.path().display()))
        .await
        .unwrap();
    everything_loads(store).await;
}

#[tokio::test]
async fn definitions_stored_by_the_release_before_load_on_postgres() {
    let (url, name) = common::fresh_postgres_database().await;
    let restored = std::process::Command::new("psql")
        .args([
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &url,
            "-f",
            POSTGRES_FIXTURE,
        ])
        .output()
        .expect("psql");
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let store = oncall::store::open(&url).await.unwrap();
    everything_loads(store.clone()).await;
    drop(store);
    common::drop_postgres_database(name);
}

/// Writes the fixtures with the server `ONCALL_BINARY` names (see the module docs).
#[tokio::test]
#[ignore = "writes the fixtures; run by hand with ONCALL_BINARY set"]
async fn write_fixtures() {
    let sqlite = Db::sqlite();
    let mut server = Server::start(&sqlite).await;
    write_one_of_each(&server).await;
    assert!(server.terminate().await.success());
    let dir = sqlite.dir().expect("a SQLite database lives in a folder");
    // Folds the write-ahead log into the file, so the file alone is the database.
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}/oncall.db", dir.display());
        let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
    }
    std::fs::copy(dir.join("oncall.db"), SQLITE_FIXTURE).unwrap();

    let postgres = Db::postgres().await;
    let mut server = Server::start(&postgres).await;
    write_one_of_each(&server).await;
    assert!(server.terminate().await.success());
    let dump = std::process::Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges", &postgres.url()])
        .output()
        .expect("pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    std::fs::write(POSTGRES_FIXTURE, dump.stdout).unwrap();
}
