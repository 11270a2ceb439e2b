//! The reference data enrichment reads: sites, customer tiers, equipment types and
//! carriers, indexed once when built so that resolving an alert is a few map lookups
//! and, only for a hostname no label places, a scan of the compiled patterns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::carrier::{Carrier, parse_asn};
use super::equipment::EquipmentType;
use super::site::Site;
use super::tier::CustomerTier;

/// Labels that name a site, in the order DOMAIN.md gives.
pub const SITE_LABELS: [&str; 3] = ["site", "datacenter", "pop"];
/// Labels that name the device an alert is about, most specific first. `instance` may
/// carry a port (`core-rtr-01.iad1:9100`), which is dropped.
pub const DEVICE_LABELS: [&str; 5] = ["device", "hostname", "host", "router", "instance"];
/// Labels that carry a peer's AS number, as common BGP exporters name them.
pub const ASN_LABELS: [&str; 5] = ["peer_asn", "asn", "bgp_peer_asn", "remote_as", "peer_as"];

/// A snapshot of the reference data: built whole, swapped in whole, never changed.
#[derive(Debug, Default)]
pub struct ReferenceData {
    /// By code, so pattern scans run in a stable order.
    sites: BTreeMap<String, Arc<Site>>,
    tiers: HashMap<String, Arc<CustomerTier>>,
    tier_of_customer: HashMap<String, Arc<CustomerTier>>,
    /// By name, so pattern scans run in a stable order.
    equipment: BTreeMap<String, Arc<EquipmentType>>,
    carriers_by_asn: HashMap<u32, Arc<Carrier>>,
    carriers_by_name: HashMap<String, Arc<Carrier>>,
}

/// What one resolver found and how, for the Resolve RPCs and the tests.
#[derive(Clone, Debug, PartialEq)]
pub struct Found<T> {
    pub value: Arc<T>,
    /// `label site`, `device core-rtr-01.iad1 matches \.iad1$`, `customer acme`.
    pub matched_by: String,
}

/// The site an alert names: the code always, the site when it is a known one.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteMatch {
    pub code: String,
    pub site: Option<Arc<Site>>,
    pub matched_by: String,
}

/// The reference entities an enriched alert's labels point at: what CEL's `site`,
/// `tier`, `equipment` and `carrier` variables are built from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReferenceFacts {
    pub site: Option<Arc<Site>>,
    pub tier: Option<Arc<CustomerTier>>,
    pub equipment: Option<Arc<EquipmentType>>,
    pub carrier: Option<Arc<Carrier>>,
}

/// Names compare without case: `Enterprise` and `enterprise` are one tier.
fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl ReferenceData {
    pub fn new(
        sites: Vec<Site>,
        tiers: Vec<CustomerTier>,
        equipment: Vec<EquipmentType>,
        carriers: Vec<Carrier>,
    ) -> ReferenceData {
        let mut data = ReferenceData::default();
        for site in sites {
            data.sites.insert(site.code.to_uppercase(), Arc::new(site));
        }
        for tier in tiers {
            let tier = Arc::new(tier);
            for customer in &tier.customers {
                data.tier_of_customer.insert(key(customer), tier.clone());
            }
            data.tiers.insert(key(&tier.name), tier);
        }
        for kind in equipment {
            data.equipment.insert(key(&kind.name), Arc::new(kind));
        }
        for carrier in carriers {
            let carrier = Arc::new(carrier);
            data.carriers_by_asn.insert(carrier.asn, carrier.clone());
            data.carriers_by_name.insert(key(&carrier.name), carrier);
        }
        data
    }

    pub fn site(&self, code: &str) -> Option<&Arc<Site>> {
        self.sites.get(&code.trim().to_uppercase())
    }

    pub fn tier(&self, name: &str) -> Option<&Arc<CustomerTier>> {
        self.tiers.get(&key(name))
    }

    pub fn equipment_type(&self, name: &str) -> Option<&Arc<EquipmentType>> {
        self.equipment.get(&key(name))
    }

    pub fn carrier_by_asn(&self, asn: u32) -> Option<&Arc<Carrier>> {
        self.carriers_by_asn.get(&asn)
    }

    pub fn carrier_by_name(&self, name: &str) -> Option<&Arc<Carrier>> {
        self.carriers_by_name.get(&key(name))
    }

    /// The site: from label `site`, else `datacenter`, else `pop` (the code upper-cased,
    /// known or not), else the first site whose device pattern matches the device's
    /// name, else a dot-separated part of that name equal to a known site's code.
    pub fn resolve_site(&self, labels: &BTreeMap<String, String>) -> Option<SiteMatch> {
        if let Some((label, value)) = SITE_LABELS
            .iter()
            .find_map(|l| Some((*l, labels.get(*l).filter(|v| !v.trim().is_empty())?)))
        {
            let code = value.trim().to_uppercase();
            return Some(SiteMatch {
                site: self.sites.get(&code).cloned(),
                code,
                matched_by: format!("label {label}"),
            });
        }
        let device = device_name(labels)?;
        if let Some(site) = self.sites.values().find(|s| s.places(device)) {
            return Some(SiteMatch {
                code: site.code.clone(),
                site: Some(site.clone()),
                matched_by: format!("device {device} matches a pattern of {}", site.code),
            });
        }
        device
            .split('.')
            .find_map(|part| self.sites.get(&part.to_uppercase()))
            .map(|site| SiteMatch {
                code: site.code.clone(),
                site: Some(site.clone()),
                matched_by: format!("device {device} names {}", site.code),
            })
    }

    /// The tier: from label `customer_tier` (a known tier), else the tier whose customer
    /// list holds the `customer` label's value.
    pub fn resolve_tier(&self, labels: &BTreeMap<String, String>) -> Option<Found<CustomerTier>> {
        if let Some(tier) = labels.get("customer_tier").and_then(|t| self.tier(t)) {
            return Some(Found {
                value: tier.clone(),
                matched_by: "label customer_tier".into(),
            });
        }
        let customer = labels.get("customer")?;
        self.tier_of_customer.get(&key(customer)).map(|tier| Found {
            value: tier.clone(),
            matched_by: format!("customer {customer}"),
        })
    }

    /// The equipment type: from label `equipment_type` (a known type), else the first
    /// type (by name) whose hostname pattern matches the device's name.
    pub fn resolve_equipment(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Option<Found<EquipmentType>> {
        if let Some(kind) = labels
            .get("equipment_type")
            .and_then(|t| self.equipment_type(t))
        {
            return Some(Found {
                value: kind.clone(),
                matched_by: "label equipment_type".into(),
            });
        }
        let device = device_name(labels)?;
        self.equipment
            .values()
            .find(|kind| kind.recognises(device))
            .map(|kind| Found {
                value: kind.clone(),
                matched_by: format!("device {device} matches a pattern of {}", kind.name),
            })
    }

    /// The carrier: by the peer's AS number, else by label `carrier`.
    pub fn resolve_carrier(&self, labels: &BTreeMap<String, String>) -> Option<Found<Carrier>> {
        for label in ASN_LABELS {
            let Some(asn) = labels.get(label).and_then(|v| parse_asn(v)) else {
                continue;
            };
            if let Some(carrier) = self.carrier_by_asn(asn) {
                return Some(Found {
                    value: carrier.clone(),
                    matched_by: format!("label {label} AS{asn}"),
                });
            }
        }
        labels
            .get("carrier")
            .and_then(|c| self.carrier_by_name(c))
            .map(|carrier| Found {
                value: carrier.clone(),
                matched_by: "label carrier".into(),
            })
    }

    /// The entities an enriched alert's `oncall_*` labels name.
    pub fn facts_of(&self, labels: &BTreeMap<String, String>) -> ReferenceFacts {
        let named = |label: &str| labels.get(label).map(String::as_str);
        ReferenceFacts {
            site: named(super::LABEL_SITE).and_then(|c| self.site(c)).cloned(),
            tier: named(super::LABEL_CUSTOMER_TIER)
                .and_then(|t| self.tier(t))
                .cloned(),
            equipment: named(super::LABEL_EQUIPMENT_TYPE)
                .and_then(|t| self.equipment_type(t))
                .cloned(),
            carrier: named(super::LABEL_CARRIER)
                .and_then(|c| self.carrier_by_name(c))
                .cloned(),
        }
    }
}

/// The device an alert is about, from the first device label that has a value; an
/// `instance`'s port is dropped.
pub fn device_name(labels: &BTreeMap<String, String>) -> Option<&str> {
    DEVICE_LABELS.iter().find_map(|label| {
        let value = labels.get(*label)?.trim();
        let value = match (*label, value.rsplit_once(':')) {
            ("instance", Some((host, port))) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => value,
        };
        (!value.is_empty()).then_some(value)
    })
}
