//! An alert as a sender delivered it, normalised from any format, and the limits it
//! must respect before the engine accepts it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::severity::Severity;

/// What the sender says about the alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderState {
    Firing,
    /// PagerDuty's `acknowledge`: the sender's own people are on it.
    Acknowledged,
    Resolved,
}

/// One alert from any source, in one shape.
#[derive(Clone, Debug, PartialEq)]
pub struct IncomingAlert {
    /// The sender's own fingerprint or dedup key; derived from labels when absent.
    pub fingerprint: Option<String>,
    pub summary: String,
    pub details: String,
    pub severity: Severity,
    /// Which kind of sender: `alertmanager`, `grafana`, `pagerduty`, `generic`, `grpc`.
    pub source: String,
    /// Which sender of that kind (an Alertmanager's external URL, a PagerDuty source).
    pub source_instance: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: SenderState,
    /// The source's start time, when it gives one.
    pub triggered_at: Option<DateTime<Utc>>,
}

/// Size limits on one alert. Configurable; the defaults follow CONTRACT.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertLimits {
    pub max_labels: usize,
    pub max_label_value_bytes: usize,
    pub max_annotation_value_bytes: usize,
}

impl Default for AlertLimits {
    fn default() -> Self {
        AlertLimits {
            max_labels: 128,
            max_label_value_bytes: 4 * 1024,
            max_annotation_value_bytes: 64 * 1024,
        }
    }
}

/// Why one alert was refused, naming the field relative to the alert (`labels`,
/// `summary`); the edge prefixes its position in the request (`alerts[17].`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlertProblem {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{field}: {reason}")]
    TooLarge { field: String, reason: String },
}

impl AlertProblem {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        AlertProblem::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn field(&self) -> &str {
        match self {
            AlertProblem::Invalid { field, .. } | AlertProblem::TooLarge { field, .. } => field,
        }
    }

    /// The same problem with its field placed inside `prefix` (`alerts[3]`).
    pub fn within(self, prefix: &str) -> Self {
        let join = |field: String| format!("{prefix}.{field}");
        match self {
            AlertProblem::Invalid { field, reason } => AlertProblem::Invalid {
                field: join(field),
                reason,
            },
            AlertProblem::TooLarge { field, reason } => AlertProblem::TooLarge {
                field: join(field),
                reason,
            },
        }
    }
}

impl IncomingAlert {
    /// Checks one alert against the limits and the fields every alert needs.
    pub fn validate(&self, limits: &AlertLimits) -> Result<(), AlertProblem> {
        if self.summary.trim().is_empty() {
            return Err(AlertProblem::invalid("summary", "required"));
        }
        self.check_text()?;
        if let Some(at) = self.triggered_at
            && !(EARLIEST_TIME..=LATEST_TIME).contains(&at.timestamp())
        {
            return Err(AlertProblem::invalid(
                "triggered_at",
                "must be between 1970 and 9999",
            ));
        }
        if let Some(fp) = &self.fingerprint
            && (fp.is_empty() || fp.len() > 256)
        {
            return Err(AlertProblem::invalid(
                "fingerprint",
                "must be 1 to 256 bytes when given",
            ));
        }
        if self.labels.len() > limits.max_labels {
            return Err(AlertProblem::TooLarge {
                field: "labels".into(),
                reason: format!(
                    "{} labels, at most {} allowed",
                    self.labels.len(),
                    limits.max_labels
                ),
            });
        }
        for (name, value) in &self.labels {
            if name.is_empty() {
                return Err(AlertProblem::invalid("labels", "a label name is empty"));
            }
            if value.len() > limits.max_label_value_bytes {
                return Err(AlertProblem::TooLarge {
                    field: format!("labels.{name}"),
                    reason: format!(
                        "value is {} bytes, at most {} allowed",
                        value.len(),
                        limits.max_label_value_bytes
                    ),
                });
            }
        }
        for (name, value) in &self.annotations {
            if value.len() > limits.max_annotation_value_bytes {
                return Err(AlertProblem::TooLarge {
                    field: format!("annotations.{name}"),
                    reason: format!(
                        "value is {} bytes, at most {} allowed",
                        value.len(),
                        limits.max_annotation_value_bytes
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The span of start times accepted: what every store can hold and a sender can mean.
const EARLIEST_TIME: i64 = 0;
const LATEST_TIME: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

impl IncomingAlert {
    /// NUL cannot be stored by PostgreSQL (text or JSONB) and means nothing in an alert:
    /// refused up front, naming the field, rather than failing the commit.
    fn check_text(&self) -> Result<(), AlertProblem> {
        let nul = |field: &str| AlertProblem::invalid(field, "contains a NUL character");
        for (field, value) in [
            ("summary", &self.summary),
            ("details", &self.details),
            ("source", &self.source),
            ("source_instance", &self.source_instance),
        ] {
            if value.contains('\0') {
                return Err(nul(field));
            }
        }
        if self.fingerprint.as_ref().is_some_and(|f| f.contains('\0')) {
            return Err(nul("fingerprint"));
        }
        for (section, map) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            for (name, value) in map {
                if name.contains('\0') || value.contains('\0') {
                    return Err(nul(&format!("{section}.{}", name.replace('\0', ""))));
                }
            }
        }
        Ok(())
    }
}

/// Validates a whole request: all or nothing, the first problem names its alert.
pub fn validate_batch(alerts: &[IncomingAlert], limits: &AlertLimits) -> Result<(), AlertProblem> {
    for (i, alert) in alerts.iter().enumerate() {
        alert
            .validate(limits)
            .map_err(|p| p.within(&format!("alerts[{i}]")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> IncomingAlert {
        IncomingAlert {
            fingerprint: None,
            summary: "BGP down".into(),
            details: String::new(),
            severity: Severity::Critical,
            source: "generic".into(),
            source_instance: String::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            state: SenderState::Firing,
            triggered_at: None,
        }
    }

    #[test]
    fn summary_is_required() {
        let mut a = alert();
        a.summary = "  ".into();
        assert_eq!(
            a.validate(&AlertLimits::default()).unwrap_err().field(),
            "summary"
        );
    }

    #[test]
    fn too_many_labels_is_too_large_and_names_the_alert() {
        let mut big = alert();
        for i in 0..129 {
            big.labels.insert(format!("l{i}"), "v".into());
        }
        let err = validate_batch(&[alert(), big], &AlertLimits::default()).unwrap_err();
        assert!(matches!(err, AlertProblem::TooLarge { .. }));
        assert_eq!(err.field(), "alerts[1].labels");
    }

    #[test]
    fn long_values_are_too_large() {
        let mut a = alert();
        a.labels.insert("device".into(), "x".repeat(4097));
        assert_eq!(
            a.validate(&AlertLimits::default()).unwrap_err().field(),
            "labels.device"
        );
        let mut b = alert();
        b.annotations
            .insert("runbook".into(), "x".repeat(65 * 1024));
        assert_eq!(
            b.validate(&AlertLimits::default()).unwrap_err().field(),
            "annotations.runbook"
        );
    }

    #[test]
    fn nul_characters_and_far_times_are_refused() {
        let mut a = alert();
        a.labels.insert("device".into(), "r1\0".into());
        assert_eq!(
            a.validate(&AlertLimits::default()).unwrap_err().field(),
            "labels.device"
        );
        let mut b = alert();
        b.summary = "down\0".into();
        assert_eq!(
            b.validate(&AlertLimits::default()).unwrap_err().field(),
            "summary"
        );
        let mut c = alert();
        c.triggered_at = DateTime::from_timestamp(-10, 0);
        assert_eq!(
            c.validate(&AlertLimits::default()).unwrap_err().field(),
            "triggered_at"
        );
    }

    #[test]
    fn empty_label_names_and_fingerprints_are_invalid() {
        let mut a = alert();
        a.labels.insert(String::new(), "v".into());
        assert!(matches!(
            a.validate(&AlertLimits::default()),
            Err(AlertProblem::Invalid { .. })
        ));
        let mut b = alert();
        b.fingerprint = Some(String::new());
        assert_eq!(
            b.validate(&AlertLimits::default()).unwrap_err().field(),
            "fingerprint"
        );
    }
}
