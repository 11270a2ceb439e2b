//! Inhibition rules: checked as written (a bad matcher names its field) and compiled
//! into the domain's [`InhibitionRule`].

use prost::Message;
use uuid::Uuid;

use super::{Invalid, LoadError};
use crate::domain::inhibition::InhibitionRule;
use crate::domain::matcher::Matcher;
use crate::pb::alerting::routing::v1 as pb;
use crate::store::StoredDefinition;

/// Checks a rule as written and compiles it; errors name the field under `rule`.
pub fn compile(rule: &pb::InhibitionRule, id: Uuid) -> Result<InhibitionRule, Invalid> {
    if rule.name.trim().is_empty() {
        return Err(Invalid::field("rule.name", "required"));
    }
    let matchers = |field: &str, texts: &[String]| {
        if texts.is_empty() {
            return Err(Invalid::field(
                format!("rule.{field}"),
                "give at least one matcher",
            ));
        }
        texts
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Matcher::parse(m).map_err(|e| Invalid::field(format!("rule.{field}[{i}]"), e))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let source = matchers("source_matchers", &rule.source_matchers)?;
    let target = matchers("target_matchers", &rule.target_matchers)?;
    if let Some(i) = rule.equal.iter().position(|l| l.trim().is_empty()) {
        return Err(Invalid::field(
            format!("rule.equal[{i}]"),
            "empty label name",
        ));
    }
    Ok(InhibitionRule {
        id,
        name: rule.name.clone(),
        source,
        target,
        equal: rule.equal.clone(),
    })
}

/// A stored rule as it was written.
pub fn decode(stored: &StoredDefinition) -> Result<pb::InhibitionRule, LoadError> {
    let mut rule =
        pb::InhibitionRule::decode(stored.body.as_slice()).map_err(|e| LoadError::Unreadable {
            noun: "inhibition rule",
            id: stored.id,
            why: e.to_string(),
        })?;
    rule.id = stored.id.to_string();
    Ok(rule)
}
