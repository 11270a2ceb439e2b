//! Enrichment: what oncall knows about an alert before routing it. A pure pipeline over
//! a snapshot of the reference data: site, customer tier, equipment type, carrier, then
//! BGP classification and impact. Its findings are labels with the `oncall_` prefix
//! (never overwriting a label the sender set), a severity boost, and for BGP trouble
//! with a known carrier that carrier's NOC contacts as annotations.
//!
//! Route-flap dampening needs time and memory; its state machine is in `flap`, and the
//! actor that owns it is `actors::flap_dampener`.

mod bgp;
mod carrier;
mod equipment;
mod flap;
mod reference;
pub(crate) mod site;
mod tier;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use bgp::{BgpFacts, BgpKind, Impact, classify, is_bgp};
pub use carrier::{Carrier, Relationship, parse_asn};
pub use equipment::EquipmentType;
pub use flap::{FlapSummary, FlapVerdict, PeerFlaps};
pub use reference::{Found, ReferenceData, ReferenceFacts, SiteMatch, device_name};
pub use site::{Site, SiteType};
pub use tier::CustomerTier;

use crate::domain::severity::Severity;

pub const LABEL_SITE: &str = "oncall_site";
pub const LABEL_SITE_TYPE: &str = "oncall_site_type";
pub const LABEL_REGION: &str = "oncall_region";
pub const LABEL_CUSTOMER_TIER: &str = "oncall_customer_tier";
pub const LABEL_EQUIPMENT_TYPE: &str = "oncall_equipment_type";
pub const LABEL_CARRIER: &str = "oncall_carrier";
pub const LABEL_CARRIER_RELATIONSHIP: &str = "oncall_carrier_relationship";
pub const LABEL_BGP_KIND: &str = "oncall_bgp_kind";
pub const LABEL_BGP_PEER: &str = "oncall_bgp_peer";
pub const LABEL_IMPACT: &str = "oncall_impact";
/// Set on a hijack: escalate at once, open a P1 ticket, tell the security team.
pub const LABEL_ESCALATE: &str = "oncall_escalate";
pub const LABEL_TICKET_PRIORITY: &str = "oncall_ticket_priority";
pub const LABEL_NOTIFY: &str = "oncall_notify";
/// Set by the flap dampener on a peer with more than 10 flaps in a minute.
pub const LABEL_FLAPPING: &str = "oncall_flapping";

pub const ANNOTATION_NOC_EMAIL: &str = "oncall_carrier_noc_email";
pub const ANNOTATION_NOC_PHONE: &str = "oncall_carrier_noc_phone";
pub const ANNOTATION_NOC_PORTAL: &str = "oncall_carrier_noc_portal";

/// What enrichment found for one alert; `apply` writes it into the alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Enrichment {
    pub labels: Vec<(&'static str, String)>,
    pub annotations: Vec<(&'static str, String)>,
    /// The severity after the equipment boost and the hijack rule.
    pub severity: Severity,
    pub bgp: Option<BgpFacts>,
}

impl Enrichment {
    /// Enriches an alert with these labels and severity. Reads only `data`: no I/O.
    pub fn of(
        data: &ReferenceData,
        labels: &BTreeMap<String, String>,
        severity: Severity,
    ) -> Enrichment {
        let mut found = Enrichment {
            labels: Vec::new(),
            annotations: Vec::new(),
            severity,
            bgp: None,
        };
        if let Some(site) = data.resolve_site(labels) {
            found.labels.push((LABEL_SITE, site.code));
            if let Some(site) = site.site {
                found
                    .labels
                    .push((LABEL_SITE_TYPE, site.site_type.as_str().into()));
                if !site.region.is_empty() {
                    found.labels.push((LABEL_REGION, site.region.clone()));
                }
            }
        }
        if let Some(tier) = data.resolve_tier(labels) {
            found
                .labels
                .push((LABEL_CUSTOMER_TIER, tier.value.name.clone()));
        } else if let Some(named) = labels.get("customer_tier").filter(|t| !t.trim().is_empty()) {
            // A tier oncall does not know yet still routes by its name.
            found
                .labels
                .push((LABEL_CUSTOMER_TIER, named.trim().into()));
        }
        if let Some(kind) = data.resolve_equipment(labels) {
            found
                .labels
                .push((LABEL_EQUIPMENT_TYPE, kind.value.name.clone()));
            found.severity = kind.value.boost(found.severity);
        }
        let carrier = data.resolve_carrier(labels).map(|c| c.value);
        if let Some(carrier) = &carrier {
            found.labels.push((LABEL_CARRIER, carrier.name.clone()));
            found.labels.push((
                LABEL_CARRIER_RELATIONSHIP,
                carrier.relationship.as_str().into(),
            ));
        }
        let Some(bgp) = classify(labels, carrier.as_deref()) else {
            return found;
        };
        if let Some(kind) = bgp.kind {
            found.labels.push((LABEL_BGP_KIND, kind.as_str().into()));
        }
        if let Some(peer) = &bgp.peer {
            found.labels.push((LABEL_BGP_PEER, peer.clone()));
        }
        found
            .labels
            .push((LABEL_IMPACT, bgp.impact.as_str().into()));
        if bgp.kind == Some(BgpKind::Hijack) {
            found.severity = Severity::Critical;
            found.labels.push((LABEL_ESCALATE, "immediate".into()));
            found.labels.push((LABEL_TICKET_PRIORITY, "p1".into()));
            found.labels.push((LABEL_NOTIFY, "security".into()));
        }
        if let Some(carrier) = carrier.filter(|_| bgp.kind.is_some()) {
            for (name, value) in [
                (ANNOTATION_NOC_EMAIL, &carrier.noc_email),
                (ANNOTATION_NOC_PHONE, &carrier.noc_phone),
                (ANNOTATION_NOC_PORTAL, &carrier.noc_portal),
            ] {
                if !value.is_empty() {
                    found.annotations.push((name, value.clone()));
                }
            }
        }
        found.bgp = Some(bgp);
        found
    }

    /// Writes the findings into an alert; a label or annotation the sender already set
    /// is left as it is.
    pub fn apply(
        self,
        labels: &mut BTreeMap<String, String>,
        annotations: &mut BTreeMap<String, String>,
        severity: &mut Severity,
    ) {
        for (name, value) in self.labels {
            labels.entry(name.to_string()).or_insert(value);
        }
        for (name, value) in self.annotations {
            annotations.entry(name.to_string()).or_insert(value);
        }
        *severity = self.severity;
    }
}
