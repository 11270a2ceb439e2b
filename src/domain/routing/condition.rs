//! Rule conditions: which fact of an alert, compared how, with what. Compiled once when
//! a rule is saved (regexes, numbers, severities parsed), evaluated per alert with no
//! allocation beyond the explanation.

use std::collections::BTreeMap;

use regex::Regex;

use crate::domain::enrich::ReferenceFacts;
use crate::domain::severity::Severity;

/// The facts of an alert that routing looks at.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutedAlert {
    pub summary: String,
    pub severity: Severity,
    pub source: String,
    pub service_id: String,
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The sites, tier, equipment type and carrier enrichment named: what CEL's `site`,
    /// `tier`, `equipment` and `carrier` are built from.
    pub reference: ReferenceFacts,
}

impl RoutedAlert {
    /// A stored alert as routing sees it; the reference facts are the caller's to add.
    pub fn of(alert: &crate::domain::alert::Alert) -> RoutedAlert {
        RoutedAlert {
            summary: alert.summary.clone(),
            severity: alert.severity,
            source: alert.source.clone(),
            service_id: alert.service_id.to_string(),
            status: alert.status.as_str().to_string(),
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            reference: Default::default(),
        }
    }

    /// An ISP fact: the enrichment label when enrichment set it, else the labels a
    /// sender uses for it, in order.
    fn fact<'a>(&'a self, enriched: &str, raw: &[&str]) -> Option<&'a str> {
        std::iter::once(enriched)
            .chain(raw.iter().copied())
            .find_map(|name| self.labels.get(name))
            .map(String::as_str)
    }
}

/// Which fact a condition reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Label(String),
    Annotation(String),
    Severity,
    Source,
    Service,
    Site,
    Pop,
    CustomerTier,
    EquipmentType,
    Carrier,
}

impl Field {
    /// The field's value for an alert; `None` when the alert does not have it.
    pub fn value_of<'a>(&self, alert: &'a RoutedAlert) -> Option<&'a str> {
        match self {
            Field::Label(name) => alert.labels.get(name).map(String::as_str),
            Field::Annotation(name) => alert.annotations.get(name).map(String::as_str),
            Field::Severity => Some(alert.severity.as_str()),
            Field::Source => Some(&alert.source),
            Field::Service => Some(&alert.service_id),
            Field::Site => alert.fact("oncall_site", &["site", "datacenter", "pop"]),
            Field::Pop => alert.fact("oncall_site", &["pop", "site"]),
            Field::CustomerTier => alert.fact("oncall_customer_tier", &["customer_tier"]),
            Field::EquipmentType => alert.fact("oncall_equipment_type", &["equipment_type"]),
            Field::Carrier => alert.fact("oncall_carrier", &["carrier"]),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Field::Label(name) => format!("labels.{name}"),
            Field::Annotation(name) => format!("annotations.{name}"),
            Field::Severity => "severity".into(),
            Field::Source => "source".into(),
            Field::Service => "service".into(),
            Field::Site => "site".into(),
            Field::Pop => "pop".into(),
            Field::CustomerTier => "customer_tier".into(),
            Field::EquipmentType => "equipment_type".into(),
            Field::Carrier => "carrier".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Regex,
    In,
    NotIn,
    Exists,
    NotExists,
    GreaterThan,
    LessThan,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "not_equals",
            Operator::Contains => "contains",
            Operator::NotContains => "not_contains",
            Operator::StartsWith => "starts_with",
            Operator::EndsWith => "ends_with",
            Operator::Regex => "regex",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Exists => "exists",
            Operator::NotExists => "not_exists",
            Operator::GreaterThan => "greater_than",
            Operator::LessThan => "less_than",
        }
    }
}

/// What a condition compares with, checked and compiled for its operator.
#[derive(Clone, Debug)]
enum Operand {
    None,
    Text(String),
    List(Vec<String>),
    Pattern(Regex),
    /// A number, or a severity rank when the field is severity.
    Number(f64),
}

/// A condition as a rule author writes it, before it is checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConditionSpec {
    pub value: String,
    pub values: Vec<String>,
}

/// Why a condition could not be compiled; `field` is relative to the condition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConditionError {
    pub field: &'static str,
    pub reason: String,
}

/// A compiled condition.
#[derive(Clone, Debug)]
pub struct Condition {
    field: Field,
    operator: Operator,
    operand: Operand,
}

/// One condition's verdict on one alert, with what it expected and what it saw.
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionResult {
    pub field: String,
    /// The operator's name (`equals`, ...), or `cel`.
    pub operator: &'static str,
    pub expected: String,
    pub actual: Option<String>,
    pub matched: bool,
    /// Why a CEL expression could not be evaluated (it then does not match).
    pub error: Option<String>,
}

impl Condition {
    /// Checks and compiles a condition: a bad regex, a missing value or a non-numeric
    /// bound is an error naming the part at fault.
    pub fn compile(
        field: Field,
        operator: Operator,
        spec: ConditionSpec,
    ) -> Result<Condition, ConditionError> {
        let error = |field, reason: String| ConditionError { field, reason };
        if let Field::Label(name) | Field::Annotation(name) = &field
            && name.is_empty()
        {
            return Err(error("field", "name the label or annotation".into()));
        }
        let operand = match operator {
            Operator::Exists | Operator::NotExists => Operand::None,
            Operator::In | Operator::NotIn => {
                if spec.values.is_empty() {
                    return Err(error("string_list", "give at least one value".into()));
                }
                Operand::List(spec.values)
            }
            Operator::Regex => Operand::Pattern(
                Regex::new(&spec.value)
                    .map_err(|e| error("regex_pattern", format!("not a valid regex: {e}")))?,
            ),
            Operator::GreaterThan | Operator::LessThan => {
                let bound = match field {
                    Field::Severity => Severity::parse(&spec.value.to_ascii_lowercase())
                        .map(|s| f64::from(s.rank()))
                        .or_else(|| spec.value.parse().ok()),
                    _ => spec.value.parse().ok(),
                };
                Operand::Number(bound.ok_or_else(|| {
                    error("string_value", format!("{:?} is not a number", spec.value))
                })?)
            }
            _ => {
                if spec.value.is_empty() {
                    return Err(error("string_value", "required".into()));
                }
                let value = match field {
                    // Severities compare by canonical name: `SEVERITY_CRITICAL`,
                    // `Critical` and `critical` are one value.
                    Field::Severity => {
                        let name = spec
                            .value
                            .to_ascii_lowercase()
                            .trim_start_matches("severity_")
                            .to_string();
                        Severity::parse(&name)
                            .ok_or_else(|| {
                                error(
                                    "string_value",
                                    format!("{:?} is not a severity", spec.value),
                                )
                            })?
                            .as_str()
                            .to_string()
                    }
                    _ => spec.value,
                };
                Operand::Text(value)
            }
        };
        Ok(Condition {
            field,
            operator,
            operand,
        })
    }

    /// Whether the condition holds, without building its explanation.
    pub fn holds(&self, alert: &RoutedAlert) -> bool {
        self.test(self.field.value_of(alert))
    }

    pub fn evaluate(&self, alert: &RoutedAlert) -> ConditionResult {
        let actual = self.field.value_of(alert);
        ConditionResult {
            field: self.field.describe(),
            operator: self.operator.as_str(),
            expected: self.describe_operand(),
            actual: actual.map(str::to_string),
            matched: self.test(actual),
            error: None,
        }
    }

    fn test(&self, actual: Option<&str>) -> bool {
        match (&self.operand, actual) {
            (_, None) => self.operator == Operator::NotExists || self.negative(),
            (Operand::None, Some(_)) => self.operator == Operator::Exists,
            (Operand::Text(expected), Some(actual)) => match self.operator {
                Operator::Equals => actual == expected,
                Operator::NotEquals => actual != expected,
                Operator::Contains => actual.contains(expected.as_str()),
                Operator::NotContains => !actual.contains(expected.as_str()),
                Operator::StartsWith => actual.starts_with(expected.as_str()),
                Operator::EndsWith => actual.ends_with(expected.as_str()),
                _ => false,
            },
            (Operand::List(values), Some(actual)) => {
                let found = values.iter().any(|v| v == actual);
                (self.operator == Operator::In) == found
            }
            (Operand::Pattern(pattern), Some(actual)) => pattern.is_match(actual),
            (Operand::Number(bound), Some(actual)) => {
                let value = match self.field {
                    Field::Severity => Severity::parse(actual).map(|s| f64::from(s.rank())),
                    _ => actual.trim().parse::<f64>().ok(),
                };
                match (value, self.operator) {
                    (Some(v), Operator::GreaterThan) => v > *bound,
                    (Some(v), Operator::LessThan) => v < *bound,
                    _ => false,
                }
            }
        }
    }

    /// Negative comparisons hold for an alert that lacks the field: a `device`
    /// `not_equals` `r1` is true of an alert with no device.
    fn negative(&self) -> bool {
        matches!(
            self.operator,
            Operator::NotEquals | Operator::NotContains | Operator::NotIn
        )
    }

    fn describe_operand(&self) -> String {
        match &self.operand {
            Operand::None => String::new(),
            Operand::Text(text) => text.clone(),
            Operand::List(values) => values.join(", "),
            Operand::Pattern(pattern) => pattern.as_str().to_string(),
            Operand::Number(n) => n.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
