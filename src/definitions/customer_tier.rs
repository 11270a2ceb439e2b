//! Customer tiers: response times per severity, the escalation multiplier and the
//! customers a tier names, checked as written and compiled for enrichment and escalation.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Invalid, fields};
use crate::domain::enrich::CustomerTier;
use crate::domain::severity::Severity;
use crate::pb::alerting::routing::v1 as pb;

/// The most a multiplier may slow escalation down by.
const MAX_MULTIPLIER: f64 = 100.0;

/// A tier as enrichment and escalation use it; errors name the field.
pub fn compile(tier: &pb::CustomerTier) -> Result<CustomerTier, Invalid> {
    let id = fields::id("tier.id", &tier.id)?;
    if tier.name.is_empty() {
        return Err(Invalid::field("tier.name", "required"));
    }
    let level = u32::try_from(tier.level)
        .ok()
        .filter(|l| *l >= 1)
        .ok_or_else(|| Invalid::field("tier.level", "1 or more (1 is the most important)"))?;
    let mut response = BTreeMap::new();
    for (severity, field, given) in [
        (
            Severity::Critical,
            "critical_response",
            &tier.critical_response,
        ),
        (Severity::High, "high_response", &tier.high_response),
        (Severity::Medium, "medium_response", &tier.medium_response),
        (Severity::Low, "low_response", &tier.low_response),
        (Severity::Info, "info_response", &tier.info_response),
    ] {
        let Some(given) = given else { continue };
        let time = u64::try_from(given.seconds)
            .ok()
            .zip(u32::try_from(given.nanos).ok())
            .map(|(s, n)| Duration::new(s, n))
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Invalid::field(format!("tier.{field}"), "must be positive"))?;
        response.insert(severity, time);
    }
    let multiplier = tier.escalation_multiplier;
    if !multiplier.is_finite() || multiplier <= 0.0 || multiplier > MAX_MULTIPLIER {
        return Err(Invalid::field(
            "tier.escalation_multiplier",
            format!("more than 0 and at most {MAX_MULTIPLIER}"),
        ));
    }
    for (i, customer) in tier.customers.iter().enumerate() {
        if customer.trim().is_empty() {
            return Err(Invalid::field(format!("tier.customers[{i}]"), "empty"));
        }
        if tier.customers[..i]
            .iter()
            .any(|c| c.trim().eq_ignore_ascii_case(customer.trim()))
        {
            return Err(Invalid::field(
                format!("tier.customers[{i}]"),
                "listed twice",
            ));
        }
    }
    Ok(CustomerTier {
        id,
        name: tier.name.clone(),
        level,
        response,
        escalation_multiplier: multiplier,
        dedicated_team: fields::optional_id("tier.dedicated_team_id", &tier.dedicated_team_id)?,
        customers: tier
            .customers
            .iter()
            .map(|c| c.trim().to_string())
            .collect(),
    })
}
