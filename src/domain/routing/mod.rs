//! Routing: which rules an alert matches at a given instant, and what they say to do.
//!
//! One pure function, [`RuleSet::decide`], serves the engine, TestRoutingRule and
//! SimulateRouting alike, so a simulation shows exactly what the engine would do.
//! Conditions and time windows are compiled when a rule is saved; deciding allocates
//! only the explanation it is asked for.

pub mod cel;
pub mod condition;
pub mod rule;
pub mod time_window;

pub use cel::{CelActivation, CelCondition, CelEnv, CelOutcome};
pub use condition::{
    Condition, ConditionError, ConditionResult, ConditionSpec, Field, Operator, RoutedAlert,
};
pub use rule::{Decision, Defaults, Explain, Rule, RuleCondition, RuleEvaluation, RuleSet};
pub use time_window::{TimeCondition, TimeConditionError, TimeResult, TimeWindow};
