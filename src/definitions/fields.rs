//! Field problems, and the checks definitions share to find them: ids, timestamps,
//! durations, URLs, patterns. Each names the field at fault by its path in the request
//! (`schedule.rotations[0].start_time`).

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::domain::severity::Severity;

/// One field at fault and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

/// A definition as written cannot be used: the fields at fault, each with its reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Invalid(pub Vec<FieldProblem>);

impl Invalid {
    /// One field at fault.
    pub fn field(field: impl std::fmt::Display, reason: impl std::fmt::Display) -> Invalid {
        Invalid(vec![FieldProblem {
            field: field.to_string(),
            reason: reason.to_string(),
        }])
    }

    /// A problem with no one field to blame (a stored body that will not decode).
    pub fn whole(reason: impl std::fmt::Display) -> Invalid {
        Invalid::field("", reason)
    }

    /// The first field at fault, for answers that carry one field.
    pub fn first_field(&self) -> &str {
        self.0.first().map_or("", |p| p.field.as_str())
    }

    fn describe(&self) -> String {
        self.0
            .iter()
            .map(|p| {
                if p.field.is_empty() {
                    p.reason.clone()
                } else {
                    format!("{}: {}", p.field, p.reason)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A required id field, parsed.
pub fn id(field: &str, value: &str) -> Result<Uuid, Invalid> {
    if value.is_empty() {
        return Err(Invalid::field(field, "required"));
    }
    Uuid::parse_str(value).map_err(|_| Invalid::field(field, format!("not a UUID: {value:?}")))
}

/// An optional id field: empty is none.
pub fn optional_id(field: &str, value: &str) -> Result<Option<Uuid>, Invalid> {
    if value.is_empty() {
        Ok(None)
    } else {
        id(field, value).map(Some)
    }
}

/// An optional webhook URL: empty, or http(s).
pub fn optional_url(field: &str, url: &str) -> Result<(), Invalid> {
    if url.is_empty() || url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(Invalid::field(field, "must be an http(s) URL"))
    }
}

/// A wire timestamp as a UTC instant.
pub fn instant(field: &str, ts: &prost_types::Timestamp) -> Result<DateTime<Utc>, Invalid> {
    u32::try_from(ts.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .ok_or_else(|| Invalid::field(field, "not a valid timestamp"))
}

/// A wire duration that must not be negative; zero or absent is none.
pub fn duration(
    field: &str,
    d: Option<&prost_types::Duration>,
) -> Result<Option<TimeDelta>, Invalid> {
    match d {
        None => Ok(None),
        Some(d) if d.seconds < 0 || d.nanos < 0 => {
            Err(Invalid::field(field, "must not be negative"))
        }
        Some(d) => Ok(TimeDelta::try_seconds(d.seconds)
            .map(|s| s + TimeDelta::nanoseconds(i64::from(d.nanos)))
            .filter(|d| !d.is_zero())),
    }
}

/// Regular expressions, compiled once and bounded in size; a bad or empty one names
/// its index.
pub fn patterns(field: &str, patterns: &[String]) -> Result<Vec<regex::Regex>, Invalid> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, pattern)| {
            if pattern.trim().is_empty() {
                return Err(Invalid::field(format!("{field}[{i}]"), "empty pattern"));
            }
            regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| Invalid::field(format!("{field}[{i}]"), e))
        })
        .collect()
}

/// A severity field: `None` for SEVERITY_UNSPECIFIED, a problem for a number that is
/// no severity.
pub fn severity(field: &str, value: i32) -> Result<Option<Severity>, Invalid> {
    use crate::pb::alerting::v1::Severity as Wire;
    match Wire::try_from(value) {
        Ok(Wire::Unspecified) => Ok(None),
        Ok(Wire::Info) => Ok(Some(Severity::Info)),
        Ok(Wire::Low) => Ok(Some(Severity::Low)),
        Ok(Wire::Medium) => Ok(Some(Severity::Medium)),
        Ok(Wire::High) => Ok(Some(Severity::High)),
        Ok(Wire::Critical) => Ok(Some(Severity::Critical)),
        Err(_) => Err(Invalid::field(field, format!("unknown severity {value}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_field_and_reason() {
        let invalid = Invalid(vec![
            FieldProblem {
                field: "schedule.name".into(),
                reason: "required".into(),
            },
            FieldProblem {
                field: "schedule.timezone".into(),
                reason: "unknown zone".into(),
            },
        ]);
        assert_eq!(
            invalid.to_string(),
            "schedule.name: required; schedule.timezone: unknown zone"
        );
        assert_eq!(invalid.first_field(), "schedule.name");
        assert_eq!(Invalid::whole("unreadable").to_string(), "unreadable");
    }

    #[test]
    fn ids_timestamps_and_durations_name_their_field() {
        assert_eq!(
            id("policy.id", "x").unwrap_err().to_string(),
            "policy.id: not a UUID: \"x\""
        );
        assert_eq!(id("policy.id", "").unwrap_err().first_field(), "policy.id");
        assert_eq!(optional_id("team_id", "").unwrap(), None);
        let bad = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert_eq!(
            instant("start_time", &bad).unwrap_err().first_field(),
            "start_time"
        );
        let negative = prost_types::Duration {
            seconds: -1,
            nanos: 0,
        };
        assert!(duration("delay", Some(&negative)).is_err());
        assert_eq!(duration("delay", None).unwrap(), None);
        assert!(optional_url("url", "ftp://x").is_err());
        assert_eq!(
            patterns("patterns", &["(".into()])
                .unwrap_err()
                .first_field(),
            "patterns[0]"
        );
    }
}
