//! Equipment types: hostname patterns and a severity boost, checked as written and
//! compiled for enrichment.

use super::{Invalid, fields};
use crate::domain::enrich::EquipmentType;
use crate::pb::alerting::routing::v1 as pb;

/// A type as enrichment uses it; errors name the field.
pub fn compile(kind: &pb::EquipmentType) -> Result<EquipmentType, Invalid> {
    let id = fields::id("equipment_type.id", &kind.id)?;
    if kind.name.is_empty() {
        return Err(Invalid::field("equipment_type.name", "required"));
    }
    let severity_boost = u8::try_from(kind.severity_boost)
        .ok()
        .filter(|b| *b <= 4)
        .ok_or_else(|| Invalid::field("equipment_type.severity_boost", "0 to 4 levels"))?;
    Ok(EquipmentType {
        id,
        name: kind.name.clone(),
        category: kind.category.clone(),
        severity_boost,
        escalation_policy: fields::optional_id(
            "equipment_type.escalation_policy_id",
            &kind.escalation_policy_id,
        )?,
        hostname_patterns: fields::patterns(
            "equipment_type.hostname_patterns",
            &kind.hostname_patterns,
        )?,
    })
}
