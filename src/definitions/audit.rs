//! The stored explanation of a routing decision (an audit entry's body) and of a
//! maintenance check: what routing decided, in the form the API shows it.

use crate::domain::maintenance::{MaintenanceAction, MaintenanceWindow};
use crate::domain::routing::{ConditionResult, RuleEvaluation};
use crate::pb::alerting::routing::v1 as pb;

fn condition_to_pb(index: usize, result: &ConditionResult) -> pb::ConditionResult {
    pb::ConditionResult {
        index: index as i32,
        field: result.field.clone(),
        operator: result.operator.to_string(),
        expected: result.expected.clone(),
        actual: result.actual.clone().unwrap_or_default(),
        matched: result.matched,
        error: result.error.clone().unwrap_or_default(),
    }
}

pub fn evaluation_to_pb(evaluation: &RuleEvaluation) -> pb::RuleEvaluation {
    pb::RuleEvaluation {
        rule_id: evaluation.rule_id.to_string(),
        rule_name: evaluation.rule_name.clone(),
        evaluated: evaluation.evaluated,
        matched: evaluation.matched,
        skipped_because: evaluation.skipped_because.unwrap_or_default().to_string(),
        time_result: evaluation.time.as_ref().map(|t| pb::TimeConditionResult {
            matched: t.matched,
            reason: t.reason.clone(),
        }),
        condition_results: evaluation
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| condition_to_pb(i, c))
            .collect(),
    }
}

/// What a check found, for the wire.
pub fn check_result(window: Option<&MaintenanceWindow>) -> pb::MaintenanceCheckResult {
    match window {
        None => pb::MaintenanceCheckResult::default(),
        Some(w) => pb::MaintenanceCheckResult {
            in_maintenance: true,
            window_id: w.id.to_string(),
            window_name: w.name.clone(),
            action: match w.action {
                MaintenanceAction::Suppress => pb::MaintenanceAction::Suppress,
                MaintenanceAction::Annotate => pb::MaintenanceAction::Annotate,
                MaintenanceAction::ReduceSeverity => pb::MaintenanceAction::ReduceSeverity,
            } as i32,
        },
    }
}
