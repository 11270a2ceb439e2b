//! ISP enrichment seen from outside: reference data over gRPC (sites, customer tiers,
//! equipment types, carriers) with clear errors, alerts in over webhooks, the enrichment
//! in GetAlert, routing rules on the enriched facts (a customer_tier condition and CEL on
//! `site.type`), route-flap dampening and the hijack rule.

mod common;

use std::time::Duration;

use common::{ADMIN_TOKEN, Db, Received, Server, authed, eventually, fixture, webhook_sink};
use oncall::pb::alerting::routing::v1 as pb;
use oncall::pb::alerting::v1 as alerting;
use tonic::Code;

fn site(code: &str, site_type: pb::SiteType, patterns: &[&str]) -> pb::Site {
    pb::Site {
        code: code.into(),
        name: format!("{code} site"),
        r#type: site_type as i32,
        region: "us-east".into(),
        timezone: "America/New_York".into(),
        tier: 1,
        device_patterns: patterns.iter().map(|p| p.to_string()).collect(),
        business_hours: vec![pb::TimeWindow {
            days_of_week: vec![1, 2, 3, 4, 5],
            start_time: "09:00".into(),
            end_time: "17:00".into(),
        }],
        ..Default::default()
    }
}

/// Sites IAD1 (datacenter) and LHR2 (a POP whose routers are `edge-N.lon`), the
/// enterprise tier with customer Acme, core routers, and Level3 as a transit carrier.
async fn reference_data(server: &Server) {
    let mut sites = server.sites().await;
    for site in [
        site("IAD1", pb::SiteType::Datacenter, &[]),
        site("lhr2", pb::SiteType::Pop, &[r"^edge-\d+\.lon$"]),
    ] {
        sites
            .create_site(authed(
                pb::CreateSiteRequest { site: Some(site) },
                ADMIN_TOKEN,
            ))
            .await
            .expect("site");
    }
    server
        .tiers()
        .await
        .create_customer_tier(authed(
            pb::CreateCustomerTierRequest {
                tier: Some(pb::CustomerTier {
                    name: "enterprise".into(),
                    level: 1,
                    critical_response: Some(prost_types::Duration {
                        seconds: 300,
                        nanos: 0,
                    }),
                    escalation_multiplier: 0.5,
                    customers: vec!["Acme".into()],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("tier");
    server
        .equipment()
        .await
        .create_equipment_type(authed(
            pb::CreateEquipmentTypeRequest {
                equipment_type: Some(pb::EquipmentType {
                    name: "core_router".into(),
                    category: "Network".into(),
                    severity_boost: 1,
                    hostname_patterns: vec!["^core-rtr-".into()],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("equipment type");
    server
        .carriers()
        .await
        .create_carrier(authed(
            pb::CreateCarrierRequest {
                carrier: Some(pb::CarrierConfig {
                    name: "Level3".into(),
                    asn: "AS3356".into(),
                    relationship: pb::CarrierRelationship::Transit as i32,
                    noc_email: "noc@level3.example".into(),
                    noc_phone: "+1 877 453 8353".into(),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("carrier");
}

fn webhook(url: String) -> pb::RoutingAction {
    pb::RoutingAction {
        r#type: pb::ActionType::NotifyWebhook as i32,
        notify_webhook: Some(pb::NotifyWebhookAction { webhook_url: url }),
        ..Default::default()
    }
}

async fn rule(server: &Server, name: &str, condition: pb::RoutingCondition, url: String) {
    server
        .routing()
        .await
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(pb::RoutingRule {
                    name: name.into(),
                    enabled: true,
                    conditions: vec![condition],
                    actions: vec![webhook(url)],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("rule");
}

fn posted_to(received: &Received, path: &str) -> Vec<serde_json::Value> {
    received
        .lock()
        .map(|r| {
            r.iter()
                .filter(|(p, _)| p == path)
                .map(|(_, body)| body.clone())
                .collect()
        })
        .unwrap_or_default()
}

async fn reference_data_is_managed_over_grpc_with_clear_errors(db: Db) {
    let server = Server::start(&db).await;
    reference_data(&server).await;
    let mut sites = server.sites().await;
    let found = sites
        .get_site_by_code(authed(
            pb::GetSiteByCodeRequest {
                code: "lhr2".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("by code")
        .into_inner();
    assert_eq!(found.code, "LHR2", "codes are stored upper case");
    assert_eq!(found.r#type, pb::SiteType::Pop as i32);

    let refused = |site: pb::Site| {
        let mut sites = sites.clone();
        async move {
            sites
                .create_site(authed(
                    pb::CreateSiteRequest { site: Some(site) },
                    ADMIN_TOKEN,
                ))
                .await
                .expect_err("refused")
        }
    };
    let status = refused(site("IAD1", pb::SiteType::Pop, &[])).await;
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let mut bad_zone = site("FRA1", pb::SiteType::Pop, &[]);
    bad_zone.timezone = "Mars/Olympus".into();
    let status = refused(bad_zone).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("site.timezone"), "{status:?}");
    let status = refused(site("FRA1", pb::SiteType::Pop, &["(unclosed"])).await;
    assert!(
        status.message().starts_with("site.device_patterns[0]"),
        "{status:?}"
    );
    let mut bad_hours = site("FRA1", pb::SiteType::Pop, &[]);
    bad_hours.business_hours[0].end_time = "25:00".into();
    let status = refused(bad_hours).await;
    assert!(
        status
            .message()
            .starts_with("site.business_hours[0].end_time"),
        "{status:?}"
    );
    let status = refused(site("FRA1", pb::SiteType::Unspecified, &[])).await;
    assert!(status.message().starts_with("site.type"), "{status:?}");
    let mut no_team = site("FRA1", pb::SiteType::Pop, &[]);
    no_team.primary_team_id = uuid::Uuid::new_v4().to_string();
    let status = refused(no_team).await;
    assert_eq!(status.message(), "site.primary_team_id: no such team");

    // Carriers: by ASN however it is written; one carrier per ASN.
    let mut carriers = server.carriers().await;
    let level3 = carriers
        .get_carrier_by_asn(authed(
            pb::GetCarrierByAsnRequest { asn: "3356".into() },
            ADMIN_TOKEN,
        ))
        .await
        .expect("by ASN")
        .into_inner();
    assert_eq!(
        (level3.name.as_str(), level3.asn.as_str()),
        ("Level3", "3356")
    );
    let status = carriers
        .create_carrier(authed(
            pb::CreateCarrierRequest {
                carrier: Some(pb::CarrierConfig {
                    name: "Lumen".into(),
                    asn: "3356".into(),
                    relationship: pb::CarrierRelationship::Transit as i32,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect_err("duplicate ASN");
    assert_eq!(status.code(), Code::AlreadyExists);
    let status = carriers
        .create_carrier(authed(
            pb::CreateCarrierRequest {
                carrier: Some(pb::CarrierConfig {
                    name: "Nobody".into(),
                    asn: "AS-NOBODY".into(),
                    relationship: pb::CarrierRelationship::Peering as i32,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect_err("bad ASN");
    assert!(status.message().starts_with("carrier.asn"), "{status:?}");
    let status = carriers
        .get_carrier_by_asn(authed(
            pb::GetCarrierByAsnRequest {
                asn: "64999".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect_err("unknown ASN");
    assert_eq!(status.code(), Code::NotFound);

    // Tiers and equipment types resolve as enrichment will.
    let mut tiers = server.tiers().await;
    let resolved = tiers
        .resolve_customer_tier(authed(
            pb::ResolveCustomerTierRequest {
                customer: "ACME".into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("resolve")
        .into_inner();
    assert!(resolved.found);
    assert_eq!(resolved.tier.map(|t| t.name).as_deref(), Some("enterprise"));
    let status = tiers
        .create_customer_tier(authed(
            pb::CreateCustomerTierRequest {
                tier: Some(pb::CustomerTier {
                    name: "gold".into(),
                    level: 2,
                    escalation_multiplier: -1.0,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect_err("bad multiplier");
    assert!(
        status.message().starts_with("tier.escalation_multiplier"),
        "{status:?}"
    );
    let status = tiers
        .create_customer_tier(authed(
            pb::CreateCustomerTierRequest {
                tier: Some(pb::CustomerTier {
                    name: "gold".into(),
                    level: 2,
                    customers: vec!["acme".into()],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect_err("a customer in two tiers");
    assert!(
        status.message().starts_with("tier.customers[0]"),
        "{status:?}"
    );
    let resolved = server
        .equipment()
        .await
        .resolve_equipment_type(authed(
            pb::ResolveEquipmentTypeRequest {
                hostname: "core-rtr-07.lhr2".into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("resolve")
        .into_inner();
    assert_eq!(
        resolved.equipment_type.map(|t| t.name).as_deref(),
        Some("core_router")
    );

    // Update and delete.
    let mut updated = found.clone();
    updated.name = "London 2".into();
    let updated = sites
        .update_site(authed(
            pb::UpdateSiteRequest {
                site: Some(updated),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.name, "London 2");
    assert_eq!(updated.created_at, found.created_at);
    sites
        .delete_site(authed(
            pb::DeleteSiteRequest {
                id: found.id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("delete");
    let status = sites
        .get_site(authed(pb::GetSiteRequest { id: found.id }, ADMIN_TOKEN))
        .await
        .expect_err("deleted");
    assert_eq!(status.code(), Code::NotFound);
    let listed = sites
        .list_sites(authed(pb::ListSitesRequest::default(), ADMIN_TOKEN))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.sites.len(), 1);
}

#[tokio::test]
async fn reference_data_on_sqlite() {
    reference_data_is_managed_over_grpc_with_clear_errors(Db::sqlite()).await;
}

#[tokio::test]
async fn reference_data_on_postgres() {
    reference_data_is_managed_over_grpc_with_clear_errors(Db::postgres().await).await;
}

#[tokio::test]
async fn alerts_are_enriched_before_routing_and_rules_on_the_enriched_facts_fire() {
    let (base, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (service, key) = server.service_with_key("backbone").await;
    reference_data(&server).await;
    rule(
        &server,
        "enterprise customers",
        pb::RoutingCondition {
            r#type: pb::ConditionType::CustomerTier as i32,
            operator: pb::ConditionOperator::Equals as i32,
            string_value: "enterprise".into(),
            ..Default::default()
        },
        format!("{base}/tier"),
    )
    .await;
    rule(
        &server,
        "POPs",
        pb::RoutingCondition {
            r#type: pb::ConditionType::Cel as i32,
            cel_expression: r#"site.type == "pop" && site.region == "us-east" && tier.level == 1"#
                .into(),
            ..Default::default()
        },
        format!("{base}/pop"),
    )
    .await;

    // The captured BGP session down: IAD1, a core router, Level3 by peer ASN.
    let (status, _, body) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &fixture("alertmanager/am-0.25-webhook-1.json"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = server
        .list_all(&service)
        .await
        .0
        .into_iter()
        .find(|a| a.fingerprint == "920301b2e33ecfe9")
        .expect("the BGP alert")
        .id;
    let bgp = server.alert(&id).await;
    for (label, value) in [
        ("oncall_site", "IAD1"),
        ("oncall_site_type", "datacenter"),
        ("oncall_region", "us-east"),
        ("oncall_equipment_type", "core_router"),
        ("oncall_carrier", "Level3"),
        ("oncall_carrier_relationship", "transit"),
        ("oncall_bgp_kind", "session_down"),
        ("oncall_bgp_peer", "core-rtr-01.iad1/4.68.1.1"),
        ("oncall_impact", "high"),
        ("site", "IAD1"),
    ] {
        assert_eq!(
            bgp.labels.get(label).map(String::as_str),
            Some(value),
            "{label}"
        );
    }
    assert_eq!(
        bgp.annotations["oncall_carrier_noc_email"],
        "noc@level3.example"
    );
    assert_eq!(
        bgp.annotations["oncall_carrier_noc_phone"],
        "+1 877 453 8353"
    );
    assert_eq!(bgp.severity, alerting::Severity::Critical as i32);

    // An Acme alert on a POP router (placed by the site's device pattern), from a sender
    // that says "warning": both rules fire, and the core router boost makes it high.
    let acme = serde_json::json!({
        "summary": "packet loss towards Acme",
        "severity": "warning",
        "fingerprint": "acme-loss",
        "labels": {"alertname": "PacketLoss", "customer": "acme", "device": "edge-7.lon"}
    });
    let (status, _, body) = server
        .post_json(&format!("/api/v1/webhook/generic/{key}"), &acme.to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    let acme_id = body["alert"]["id"].as_str().expect("id").to_string();
    let tier_hit = eventually("the tier rule's webhook", async || {
        posted_to(&received, "/tier").into_iter().next()
    })
    .await;
    assert_eq!(tier_hit["id"], acme_id.as_str());
    let pop_hit = eventually("the CEL site.type rule's webhook", async || {
        posted_to(&received, "/pop").into_iter().next()
    })
    .await;
    assert_eq!(pop_hit["id"], acme_id.as_str());
    assert_eq!(pop_hit["labels"]["oncall_site"], "LHR2");
    assert_eq!(pop_hit["labels"]["oncall_customer_tier"], "enterprise");
    // The BGP alert is at a datacenter with no customer: neither rule matched it.
    assert!(
        posted_to(&received, "/tier")
            .iter()
            .all(|b| b["id"] != id.as_str())
    );

    // The captured hijack, sent as a warning, comes out critical and marked.
    let hijack = fixture("generic/bgp-hijack.json").replace("\"critical\"", "\"warning\"");
    let (status, _, body) = server
        .post_json(&format!("/api/v1/webhook/generic/{key}"), &hijack)
        .await;
    assert_eq!(status, 200, "{body}");
    let hijack = server
        .alert(body["alert"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(hijack.severity, alerting::Severity::Critical as i32);
    assert_eq!(hijack.labels["oncall_bgp_kind"], "hijack");
    assert_eq!(hijack.labels["oncall_impact"], "critical");
    assert_eq!(hijack.labels["oncall_ticket_priority"], "p1");
    assert_eq!(hijack.labels["oncall_notify"], "security");
}

#[tokio::test]
async fn a_hundred_flaps_of_one_peer_make_at_most_two_notifications() {
    let (base, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(
        &db,
        &["--allow-private-destinations", "--flap-window-seconds", "5"],
    )
    .await;
    let (service, key) = server.service_with_key("backbone").await;
    rule(
        &server,
        "BGP",
        pb::RoutingCondition {
            r#type: pb::ConditionType::Cel as i32,
            cel_expression: "'oncall_bgp_kind' in labels".into(),
            ..Default::default()
        },
        format!("{base}/bgp"),
    )
    .await;
    let started = std::time::Instant::now();
    for i in 0..100 {
        let flap = serde_json::json!({
            "summary": format!("route flap {i}"),
            "severity": "warning",
            "fingerprint": format!("flap-{i}"),
            "labels": {"alertname": "BGPRouteFlap", "device": "edge-01.lhr2", "peer_ip": "195.66.224.1"}
        });
        let (status, _, body) = server
            .post_json(&format!("/api/v1/webhook/generic/{key}"), &flap.to_string())
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the flaps must fall in one window for this test"
    );
    let summary = eventually("the flap summary", async || {
        posted_to(&received, "/bgp").into_iter().nth(1)
    })
    .await;
    // Let the next window end too: it held nothing and must send nothing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let posted = posted_to(&received, "/bgp");
    assert_eq!(
        posted.len(),
        2,
        "the first flap, then one summary: {posted:?}"
    );
    assert_eq!(posted[0]["summary"], "route flap 0");
    assert_eq!(summary["annotations"]["oncall_flap_count"], "99");
    let text = summary["summary"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("99 more route flaps of peer edge-01.lhr2/195.66.224.1")
            && text.ends_with("(flapping)"),
        "{text}"
    );
    // Every flap is stored; the later ones carry the flapping mark.
    let (alerts, total) = server.list_all(&service).await;
    assert_eq!(total, 100);
    let flapping = alerts
        .iter()
        .filter(|a| a.labels.get("oncall_flapping").map(String::as_str) == Some("true"))
        .count();
    assert!(flapping >= 89, "{flapping} alerts marked flapping");
}
