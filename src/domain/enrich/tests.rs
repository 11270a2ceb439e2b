//! The pipeline on the captured fixtures and on label variants from common exporters.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::TimeZone;
use regex::Regex;
use uuid::Uuid;

use super::*;

fn reference() -> ReferenceData {
    let site = |code: &str, site_type, region: &str, patterns: &[&str]| Site {
        region: region.into(),
        ..site::sample(code, site_type, patterns)
    };
    ReferenceData::new(
        vec![
            site("IAD1", SiteType::Datacenter, "us-east", &[]),
            site("LHR2", SiteType::Pop, "eu-west", &[r"^edge-\d+\.lon$"]),
        ],
        vec![CustomerTier {
            id: Uuid::new_v4(),
            name: "enterprise".into(),
            level: 1,
            response: BTreeMap::from([(Severity::Critical, Duration::from_secs(300))]),
            escalation_multiplier: 0.5,
            dedicated_team: None,
            customers: vec!["Acme".into()],
        }],
        vec![
            EquipmentType {
                id: Uuid::new_v4(),
                name: "core_router".into(),
                category: "Network".into(),
                severity_boost: 1,
                escalation_policy: None,
                hostname_patterns: vec![Regex::new("^core-rtr-").unwrap()],
            },
            EquipmentType {
                id: Uuid::new_v4(),
                name: "access_switch".into(),
                category: "Network".into(),
                severity_boost: 4,
                escalation_policy: None,
                hostname_patterns: vec![Regex::new("^asw-").unwrap()],
            },
        ],
        vec![Carrier {
            id: Uuid::new_v4(),
            name: "Level3".into(),
            asn: 3356,
            relationship: Relationship::Transit,
            noc_email: "noc@level3.example".into(),
            noc_phone: "+1 877 453 8353".into(),
            noc_portal: String::new(),
            team: None,
            auto_ticket: true,
            ticket_provider: "jira".into(),
        }],
    )
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn fixture_labels(json: &str, path: &[&str]) -> BTreeMap<String, String> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let labels = path
        .iter()
        .fold(&value, |v, step| match step.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*step],
        });
    serde_json::from_value(labels.clone()).unwrap()
}

fn label<'a>(found: &'a Enrichment, name: &str) -> Option<&'a str> {
    found
        .labels
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_captured_bgp_session_down_is_enriched_whole() {
    let raw = fixture_labels(
        include_str!("../../../tests/fixtures/alertmanager/am-0.25-webhook-1.json"),
        &["alerts", "0", "labels"],
    );
    let found = Enrichment::of(&reference(), &raw, Severity::High);
    assert_eq!(label(&found, LABEL_SITE), Some("IAD1"));
    assert_eq!(label(&found, LABEL_SITE_TYPE), Some("datacenter"));
    assert_eq!(label(&found, LABEL_REGION), Some("us-east"));
    assert_eq!(label(&found, LABEL_EQUIPMENT_TYPE), Some("core_router"));
    assert_eq!(label(&found, LABEL_CARRIER), Some("Level3"));
    assert_eq!(label(&found, LABEL_CARRIER_RELATIONSHIP), Some("transit"));
    assert_eq!(label(&found, LABEL_BGP_KIND), Some("session_down"));
    assert_eq!(
        label(&found, LABEL_BGP_PEER),
        Some("core-rtr-01.iad1/4.68.1.1")
    );
    assert_eq!(label(&found, LABEL_IMPACT), Some("high"));
    // A core router raises high to critical.
    assert_eq!(found.severity, Severity::Critical);
    assert!(
        found
            .annotations
            .contains(&(ANNOTATION_NOC_EMAIL, "noc@level3.example".into()))
    );
    assert!(
        found
            .annotations
            .contains(&(ANNOTATION_NOC_PHONE, "+1 877 453 8353".into()))
    );
}

#[test]
fn the_captured_hijack_is_critical_and_marked_for_escalation_ticket_and_security() {
    let raw = fixture_labels(
        include_str!("../../../tests/fixtures/generic/bgp-hijack.json"),
        &["labels"],
    );
    let found = Enrichment::of(&reference(), &raw, Severity::Low);
    assert_eq!(found.severity, Severity::Critical);
    assert_eq!(label(&found, LABEL_BGP_KIND), Some("hijack"));
    assert_eq!(label(&found, LABEL_IMPACT), Some("critical"));
    assert_eq!(label(&found, LABEL_ESCALATE), Some("immediate"));
    assert_eq!(label(&found, LABEL_TICKET_PRIORITY), Some("p1"));
    assert_eq!(label(&found, LABEL_NOTIFY), Some("security"));
    assert_eq!(label(&found, LABEL_CARRIER), Some("Level3"));
}

#[test]
fn sites_come_from_labels_in_order_then_patterns_then_the_hostname() {
    let data = reference();
    let site = |pairs: &[(&str, &str)]| data.resolve_site(&labels(pairs)).map(|m| m.code);
    assert_eq!(
        site(&[("site", "iad1"), ("pop", "LHR2")]).as_deref(),
        Some("IAD1")
    );
    assert_eq!(
        site(&[("datacenter", "lhr2"), ("pop", "IAD1")]).as_deref(),
        Some("LHR2")
    );
    assert_eq!(site(&[("pop", "lhr2")]).as_deref(), Some("LHR2"));
    assert_eq!(site(&[("device", "edge-01.lon")]).as_deref(), Some("LHR2"));
    assert_eq!(
        site(&[("device", "core-rtr-01.iad1")]).as_deref(),
        Some("IAD1")
    );
    assert_eq!(
        site(&[("instance", "core-rtr-02.iad1:9100")]).as_deref(),
        Some("IAD1")
    );
    assert_eq!(site(&[("hostname", "db-01.example.net")]), None);
    // An unknown code is still the alert's site; only known sites add type and region.
    let unknown = data.resolve_site(&labels(&[("site", "fra9")])).unwrap();
    assert_eq!((unknown.code.as_str(), unknown.site), ("FRA9", None));
    let found = Enrichment::of(&data, &labels(&[("site", "fra9")]), Severity::Medium);
    assert_eq!(label(&found, LABEL_SITE), Some("FRA9"));
    assert_eq!(label(&found, LABEL_SITE_TYPE), None);
}

#[test]
fn tiers_come_from_the_tier_label_then_the_customer() {
    let data = reference();
    let tier = |pairs: &[(&str, &str)]| {
        data.resolve_tier(&labels(pairs))
            .map(|f| (f.value.name.clone(), f.matched_by))
    };
    assert_eq!(
        tier(&[("customer_tier", "Enterprise")]),
        Some(("enterprise".into(), "label customer_tier".into()))
    );
    assert_eq!(
        tier(&[("customer", "acme")]),
        Some(("enterprise".into(), "customer acme".into()))
    );
    assert_eq!(tier(&[("customer", "globex")]), None);
    // A tier named but not configured still routes by its name.
    let found = Enrichment::of(&data, &labels(&[("customer_tier", "gold")]), Severity::Low);
    assert_eq!(label(&found, LABEL_CUSTOMER_TIER), Some("gold"));
}

#[test]
fn equipment_boost_raises_severity_and_stops_at_critical() {
    let data = reference();
    let severity =
        |pairs: &[(&str, &str)], from| Enrichment::of(&data, &labels(pairs), from).severity;
    assert_eq!(
        severity(&[("device", "core-rtr-09")], Severity::Low),
        Severity::Medium
    );
    assert_eq!(
        severity(&[("equipment_type", "CORE_ROUTER")], Severity::Info),
        Severity::Low
    );
    assert_eq!(
        severity(&[("device", "asw-3")], Severity::Medium),
        Severity::Critical
    );
    assert_eq!(
        severity(&[("device", "asw-3")], Severity::Critical),
        Severity::Critical
    );
    assert_eq!(
        severity(&[("device", "server-1")], Severity::Low),
        Severity::Low
    );
}

#[test]
fn carriers_by_any_asn_label_or_by_name() {
    let data = reference();
    for pairs in [
        vec![("peer_asn", "3356")],
        vec![("asn", "AS3356")],
        vec![("bgp_peer_asn", "3356")],
        vec![("remote_as", "3356")],
        vec![("carrier", "level3")],
    ] {
        let found = data.resolve_carrier(&labels(&pairs));
        assert_eq!(
            found.map(|f| f.value.name.clone()).as_deref(),
            Some("Level3"),
            "{pairs:?}"
        );
    }
    assert!(
        data.resolve_carrier(&labels(&[("peer_asn", "64999")]))
            .is_none()
    );
}

#[test]
fn nothing_the_sender_set_is_overwritten() {
    let mut alert_labels = labels(&[("site", "IAD1"), ("oncall_site", "mine")]);
    let mut annotations = BTreeMap::new();
    let mut severity = Severity::Medium;
    Enrichment::of(&reference(), &alert_labels, severity).apply(
        &mut alert_labels,
        &mut annotations,
        &mut severity,
    );
    assert_eq!(alert_labels["oncall_site"], "mine");
    assert_eq!(alert_labels["oncall_site_type"], "datacenter");
    assert_eq!(alert_labels["site"], "IAD1");
}

#[test]
fn an_alert_about_nothing_known_gains_nothing() {
    let found = Enrichment::of(
        &reference(),
        &labels(&[("alertname", "DiskFull"), ("host", "db-01")]),
        Severity::Medium,
    );
    assert!(found.labels.is_empty() && found.annotations.is_empty());
    assert_eq!(found.severity, Severity::Medium);
}

#[test]
fn facts_follow_the_enrichment_labels() {
    let data = reference();
    let facts = data.facts_of(&labels(&[
        (LABEL_SITE, "LHR2"),
        (LABEL_CUSTOMER_TIER, "enterprise"),
        (LABEL_EQUIPMENT_TYPE, "core_router"),
        (LABEL_CARRIER, "Level3"),
    ]));
    let site = facts.site.expect("site");
    assert_eq!(site.site_type, SiteType::Pop);
    assert_eq!(facts.tier.map(|t| t.escalation_multiplier), Some(0.5));
    assert_eq!(facts.equipment.map(|e| e.severity_boost), Some(1));
    assert_eq!(facts.carrier.map(|c| c.asn), Some(3356));
    // 2026-11-30 is a Monday: 10:00 in New York is business hours, 20:00 is not.
    let monday = |hour| {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 30, hour, 0, 0)
            .unwrap()
    };
    assert!(site.in_business_hours(monday(15)));
    assert!(!site.in_business_hours(monday(1)));
}
