//! Sites and POPs: checked as written and compiled (zone, business hours, device
//! patterns) exactly as enrichment uses them.

use super::{Invalid, fields};
use crate::domain::enrich::{Site, SiteType};
use crate::domain::routing::TimeCondition;
use crate::pb::alerting::routing::v1 as pb;

/// A site as enrichment uses it; errors name the field (`site.business_hours[0].start_time`).
pub fn compile(site: &pb::Site) -> Result<Site, Invalid> {
    let id = fields::id("site.id", &site.id)?;
    if site.code.is_empty() {
        return Err(Invalid::field("site.code", "required"));
    }
    if !site
        .code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Invalid::field(
            "site.code",
            "letters, digits, '-' and '_' only (it is matched against hostnames)",
        ));
    }
    let site_type = match pb::SiteType::try_from(site.r#type) {
        Ok(pb::SiteType::Datacenter) => SiteType::Datacenter,
        Ok(pb::SiteType::Pop) => SiteType::Pop,
        Ok(pb::SiteType::Colocation) => SiteType::Colocation,
        Ok(pb::SiteType::Edge) => SiteType::Edge,
        Ok(pb::SiteType::Office) => SiteType::Office,
        Ok(pb::SiteType::Unspecified) => return Err(Invalid::field("site.type", "required")),
        Err(_) => return Err(Invalid::field("site.type", "unknown site type")),
    };
    let tier = u8::try_from(site.tier)
        .ok()
        .filter(|t| (1..=3).contains(t))
        .ok_or_else(|| Invalid::field("site.tier", "1 (critical) to 3 (standard)"))?;
    let time_zone: chrono_tz::Tz = site.timezone.parse().map_err(|_| {
        Invalid::field(
            "site.timezone",
            format!("not an IANA zone: {:?}", site.timezone),
        )
    })?;
    let business_hours = if site.business_hours.is_empty() {
        None
    } else {
        let windows = super::routing::window_parts(&site.business_hours);
        let hours = TimeCondition::parse(&site.timezone, &windows, false).map_err(|e| {
            Invalid::field(
                format!(
                    "site.business_hours{}",
                    e.field.strip_prefix("windows").unwrap_or(&e.field)
                ),
                e.reason,
            )
        })?;
        Some(hours)
    };
    Ok(Site {
        id,
        code: site.code.clone(),
        name: site.name.clone(),
        site_type,
        region: site.region.clone(),
        country: site.country.clone(),
        city: site.city.clone(),
        tier,
        time_zone,
        business_hours,
        primary_team: fields::optional_id("site.primary_team_id", &site.primary_team_id)?,
        secondary_team: fields::optional_id("site.secondary_team_id", &site.secondary_team_id)?,
        escalation_policy: fields::optional_id(
            "site.escalation_policy_id",
            &site.escalation_policy_id,
        )?,
        device_patterns: fields::patterns("site.device_patterns", &site.device_patterns)?,
    })
}
