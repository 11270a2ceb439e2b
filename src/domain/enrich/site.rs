//! Sites and POPs: where a device is, who looks after it, and when its business hours are.

use chrono::{DateTime, Utc};
use regex::Regex;
use uuid::Uuid;

use crate::domain::routing::TimeCondition;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteType {
    Datacenter,
    Pop,
    Colocation,
    Edge,
    Office,
}

impl SiteType {
    /// The plain lowercase name labels and CEL carry (`site.type == "pop"`).
    pub fn as_str(self) -> &'static str {
        match self {
            SiteType::Datacenter => "datacenter",
            SiteType::Pop => "pop",
            SiteType::Colocation => "colocation",
            SiteType::Edge => "edge",
            SiteType::Office => "office",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Site {
    pub id: Uuid,
    /// Upper case and unique.
    pub code: String,
    pub name: String,
    pub site_type: SiteType,
    pub region: String,
    pub country: String,
    pub city: String,
    /// 1 critical … 3 standard.
    pub tier: u8,
    pub time_zone: chrono_tz::Tz,
    /// Business hours in the site's zone; `None` when the site has none set.
    pub business_hours: Option<TimeCondition>,
    pub primary_team: Option<Uuid>,
    pub secondary_team: Option<Uuid>,
    pub escalation_policy: Option<Uuid>,
    /// Compiled once, when the reference data is built.
    pub device_patterns: Vec<Regex>,
}

/// Sites are the same when their data is; compiled patterns compare by their source.
impl PartialEq for Site {
    fn eq(&self, other: &Site) -> bool {
        self.id == other.id
            && self.code == other.code
            && self.name == other.name
            && self.site_type == other.site_type
            && self.region == other.region
            && self.country == other.country
            && self.city == other.city
            && self.tier == other.tier
            && self.time_zone == other.time_zone
            && self.business_hours == other.business_hours
            && self.primary_team == other.primary_team
            && self.secondary_team == other.secondary_team
            && self.escalation_policy == other.escalation_policy
            && self
                .device_patterns
                .iter()
                .map(Regex::as_str)
                .eq(other.device_patterns.iter().map(Regex::as_str))
    }
}

impl Site {
    /// Whether `now` falls in the site's business hours; a site without business hours
    /// set is never in them.
    pub fn in_business_hours(&self, now: DateTime<Utc>) -> bool {
        self.business_hours
            .as_ref()
            .is_some_and(|hours| hours.holds(now))
    }

    /// Whether one of the site's device patterns matches the hostname.
    pub fn places(&self, hostname: &str) -> bool {
        self.device_patterns.iter().any(|p| p.is_match(hostname))
    }
}

/// A site for tests elsewhere in the domain: a New York site open 09:00–17:00 on
/// weekdays.
#[cfg(test)]
pub(crate) fn sample(code: &str, site_type: SiteType, patterns: &[&str]) -> Site {
    Site {
        id: Uuid::new_v4(),
        code: code.into(),
        name: format!("{code} site"),
        site_type,
        region: "us-east".into(),
        country: "US".into(),
        city: "Ashburn".into(),
        tier: 1,
        time_zone: chrono_tz::America::New_York,
        business_hours: Some(
            TimeCondition::parse(
                "America/New_York",
                &[(vec![1, 2, 3, 4, 5], "09:00".into(), "17:00".into())],
                false,
            )
            .expect("valid hours"),
        ),
        primary_team: None,
        secondary_team: None,
        escalation_policy: None,
        device_patterns: patterns
            .iter()
            .map(|p| Regex::new(p).expect("pattern"))
            .collect(),
    }
}
