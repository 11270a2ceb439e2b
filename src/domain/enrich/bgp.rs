//! BGP classification: which alerts are about BGP, what kind of trouble (session down,
//! route flap, hijack), which peer, and how much it matters.
//!
//! Exporters name things differently (`bgp_peer_state`, `peer_asn`, `remote_as`), so
//! each fact is read from the labels the common ones use, in order.

use std::collections::BTreeMap;

use super::carrier::{Carrier, Relationship, parse_asn};
use super::reference::{ASN_LABELS, device_name};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BgpKind {
    SessionDown,
    RouteFlap,
    Hijack,
}

impl BgpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BgpKind::SessionDown => "session_down",
            BgpKind::RouteFlap => "route_flap",
            BgpKind::Hijack => "hijack",
        }
    }
}

/// How much of the network an alert's trouble touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    Low,
    Medium,
    High,
    Critical,
}

impl Impact {
    pub fn as_str(self) -> &'static str {
        match self {
            Impact::Low => "low",
            Impact::Medium => "medium",
            Impact::High => "high",
            Impact::Critical => "critical",
        }
    }

    fn raised(self, levels: u8) -> Impact {
        (0..levels).fold(self, |impact, _| match impact {
            Impact::Low => Impact::Medium,
            Impact::Medium => Impact::High,
            Impact::High | Impact::Critical => Impact::Critical,
        })
    }
}

/// What classification found for a BGP alert.
#[derive(Clone, Debug, PartialEq)]
pub struct BgpFacts {
    /// `None` for a BGP alert of no kind oncall treats specially (a prefix-count
    /// warning, say).
    pub kind: Option<BgpKind>,
    /// The peer, as `device/address` (or `device/AS<asn>`), when the labels say.
    pub peer: Option<String>,
    pub impact: Impact,
}

/// Labels that carry a session's state.
const STATE_LABELS: [&str; 5] = [
    "bgp_peer_state",
    "bgp_state",
    "peer_state",
    "session_state",
    "state",
];
/// Labels that carry a peer's address.
const PEER_LABELS: [&str; 8] = [
    "peer_ip",
    "peer_address",
    "peer_addr",
    "peer",
    "neighbor",
    "neighbour",
    "bgp_peer",
    "remote_addr",
];
/// Labels that count the prefixes an event touches.
const PREFIX_COUNT_LABELS: [&str; 4] = [
    "affected_prefixes",
    "prefix_count",
    "prefixes",
    "bgp_prefixes",
];
/// Affected-prefix counts that raise impact by one level each.
const PREFIX_STEPS: [u64; 2] = [1_000, 100_000];

/// Whether an alert is about BGP: its alertname says so, or it has `bgp_*` or peer-ASN
/// labels.
pub fn is_bgp(labels: &BTreeMap<String, String>) -> bool {
    alertname(labels).contains("bgp")
        || labels.keys().any(|k| k.starts_with("bgp_"))
        || ASN_LABELS
            .iter()
            .any(|l| *l != "asn" && labels.contains_key(*l))
}

/// Classifies a BGP alert; `None` for one that is not about BGP. `carrier` is the
/// carrier enrichment found, which decides a session's impact.
pub fn classify(labels: &BTreeMap<String, String>, carrier: Option<&Carrier>) -> Option<BgpFacts> {
    if !is_bgp(labels) {
        return None;
    }
    let kind = kind_of(labels);
    let impact = match kind {
        Some(BgpKind::Hijack) => Impact::Critical,
        Some(BgpKind::SessionDown) => match carrier.map(|c| c.relationship) {
            Some(Relationship::Transit | Relationship::Customer) => Impact::High,
            Some(Relationship::Peering) | None => Impact::Medium,
        },
        Some(BgpKind::RouteFlap) => Impact::Medium,
        None => Impact::Low,
    };
    let prefixes = PREFIX_COUNT_LABELS
        .iter()
        .find_map(|l| labels.get(*l)?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let raise = PREFIX_STEPS
        .iter()
        .filter(|step| prefixes >= **step)
        .count();
    Some(BgpFacts {
        kind,
        peer: peer_of(labels),
        impact: impact.raised(u8::try_from(raise).unwrap_or(u8::MAX)),
    })
}

fn alertname(labels: &BTreeMap<String, String>) -> String {
    labels
        .get("alertname")
        .map(|n| n.to_lowercase())
        .unwrap_or_default()
}

fn kind_of(labels: &BTreeMap<String, String>) -> Option<BgpKind> {
    let name = alertname(labels);
    let says = |word: &str| {
        name.contains(word)
            || labels
                .iter()
                .any(|(k, v)| k.contains(word) || v.to_lowercase().contains(word))
    };
    let origin_mismatch = match (
        labels.get("origin_asn").and_then(|a| parse_asn(a)),
        labels.get("expected_asn").and_then(|a| parse_asn(a)),
    ) {
        (Some(origin), Some(expected)) => origin != expected,
        _ => false,
    };
    if says("hijack") || origin_mismatch || name.contains("originmismatch") {
        return Some(BgpKind::Hijack);
    }
    if says("flap") {
        return Some(BgpKind::RouteFlap);
    }
    let state_down = STATE_LABELS
        .iter()
        .any(|label| labels.get(*label).is_some_and(|state| is_down_state(state)));
    if state_down || name.contains("down") || name.contains("sessionlost") {
        return Some(BgpKind::SessionDown);
    }
    None
}

/// A session state that means the session is not established: the names, or the
/// numbers of the BGP FSM (1 Idle, 2 Connect, 3 Active) that SNMP exporters report.
fn is_down_state(state: &str) -> bool {
    matches!(
        state.trim().to_lowercase().as_str(),
        "idle" | "active" | "connect" | "down" | "1" | "2" | "3"
    )
}

fn peer_of(labels: &BTreeMap<String, String>) -> Option<String> {
    let address = PEER_LABELS
        .iter()
        .find_map(|l| labels.get(*l).filter(|v| !v.trim().is_empty()))
        .map(|a| a.trim().to_string())
        .or_else(|| {
            ASN_LABELS
                .iter()
                .find_map(|l| labels.get(*l).and_then(|v| parse_asn(v)))
                .map(|asn| format!("AS{asn}"))
        })?;
    Some(match device_name(labels) {
        Some(device) => format!("{device}/{address}"),
        None => address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn carrier(relationship: Relationship) -> Carrier {
        Carrier {
            id: uuid::Uuid::nil(),
            name: "Level3".into(),
            asn: 3356,
            relationship,
            noc_email: String::new(),
            noc_phone: String::new(),
            noc_portal: String::new(),
            team: None,
            auto_ticket: false,
            ticket_provider: String::new(),
        }
    }

    #[test]
    fn exporter_variants_of_a_session_down() {
        for variant in [
            labels(&[("alertname", "BGPPeerDown"), ("peer_ip", "4.68.1.1")]),
            labels(&[
                ("alertname", "PeerState"),
                ("bgp_peer_state", "Idle"),
                ("peer_asn", "3356"),
            ]),
            labels(&[
                ("alertname", "bgp_session"),
                ("state", "active"),
                ("neighbor", "10.0.0.1"),
            ]),
            labels(&[
                ("alertname", "BgpSessionState"),
                ("bgp_peer_state", "1"),
                ("remote_as", "3356"),
            ]),
            labels(&[
                ("alertname", "Unreachable"),
                ("remote_as", "3356"),
                ("session_state", "Connect"),
            ]),
        ] {
            let facts = classify(&variant, None).expect("BGP");
            assert_eq!(facts.kind, Some(BgpKind::SessionDown), "{variant:?}");
        }
    }

    #[test]
    fn an_established_session_is_bgp_of_no_special_kind() {
        let facts = classify(
            &labels(&[
                ("alertname", "BGPPrefixesLow"),
                ("bgp_peer_state", "Established"),
            ]),
            None,
        )
        .expect("BGP");
        assert_eq!(facts.kind, None);
        assert_eq!(facts.impact, Impact::Low);
    }

    #[test]
    fn alerts_about_other_things_are_not_bgp() {
        assert_eq!(
            classify(
                &labels(&[("alertname", "DiskFull"), ("asn", "64500")]),
                None
            ),
            None
        );
        assert_eq!(
            classify(&labels(&[("alertname", "InterfaceDown")]), None),
            None
        );
    }

    #[test]
    fn hijacks_by_name_by_label_or_by_origin_mismatch() {
        for variant in [
            labels(&[("alertname", "BGPHijackSuspected")]),
            labels(&[("alertname", "BGPAnomaly"), ("anomaly", "possible-hijack")]),
            labels(&[
                ("alertname", "BGPOrigin"),
                ("origin_asn", "64511"),
                ("expected_asn", "64500"),
            ]),
        ] {
            let facts = classify(&variant, None).expect("BGP");
            assert_eq!(facts.kind, Some(BgpKind::Hijack), "{variant:?}");
            assert_eq!(facts.impact, Impact::Critical);
        }
        let same_origin = labels(&[
            ("alertname", "BGPOrigin"),
            ("origin_asn", "64500"),
            ("expected_asn", "AS64500"),
        ]);
        assert_eq!(classify(&same_origin, None).and_then(|f| f.kind), None);
    }

    #[test]
    fn flaps_are_keyed_by_device_and_peer() {
        let facts = classify(
            &labels(&[
                ("alertname", "BGPRouteFlap"),
                ("device", "edge-01.lhr2"),
                ("peer_ip", "195.66.224.1"),
            ]),
            None,
        )
        .expect("BGP");
        assert_eq!(facts.kind, Some(BgpKind::RouteFlap));
        assert_eq!(facts.peer.as_deref(), Some("edge-01.lhr2/195.66.224.1"));
        let by_asn = classify(
            &labels(&[("alertname", "BgpFlapping"), ("peer_asn", "AS6939")]),
            None,
        )
        .expect("BGP");
        assert_eq!(by_asn.peer.as_deref(), Some("AS6939"));
    }

    #[test]
    fn a_session_down_matters_by_the_carrier_it_is_with() {
        let down = labels(&[("alertname", "BGPSessionDown"), ("peer_asn", "3356")]);
        let impact = |c: Option<Carrier>| classify(&down, c.as_ref()).expect("BGP").impact;
        assert_eq!(impact(Some(carrier(Relationship::Transit))), Impact::High);
        assert_eq!(impact(Some(carrier(Relationship::Customer))), Impact::High);
        assert_eq!(impact(Some(carrier(Relationship::Peering))), Impact::Medium);
        assert_eq!(impact(None), Impact::Medium);
    }

    #[test]
    fn affected_prefixes_raise_impact() {
        let with = |count: &str| {
            classify(
                &labels(&[
                    ("alertname", "BGPSessionDown"),
                    ("affected_prefixes", count),
                ]),
                None,
            )
            .expect("BGP")
            .impact
        };
        assert_eq!(with("10"), Impact::Medium);
        assert_eq!(with("1000"), Impact::High);
        assert_eq!(with("900000"), Impact::Critical);
        assert_eq!(with("many"), Impact::Medium);
    }
}
