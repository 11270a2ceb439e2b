//! Rules and the rule set: evaluated in ascending priority, disabled rules skipped, a
//! matching terminal rule ends the evaluation, and no match at all means the defaults.
//!
//! Rules are generic over their action type: what an action *is* belongs to the edges
//! and the actors that carry it out; here only its place in the decision matters.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::cel::{CelActivation, CelCondition, CelEnv};
use super::condition::{Condition, ConditionResult, RoutedAlert};
use super::time_window::{TimeCondition, TimeResult};
use crate::domain::severity::Severity;

#[derive(Clone, Debug)]
pub struct Rule<A> {
    pub id: Uuid,
    pub name: String,
    /// Lower runs first.
    pub priority: i32,
    pub enabled: bool,
    /// A matching terminal rule stops evaluation.
    pub terminal: bool,
    /// All must hold.
    pub conditions: Vec<RuleCondition>,
    pub time: Option<TimeCondition>,
    pub actions: Vec<A>,
}

/// A compiled condition of either kind.
#[derive(Clone, Debug)]
pub enum RuleCondition {
    Match(Condition),
    Cel(CelCondition),
}

impl RuleCondition {
    fn holds(&self, alert: &RoutedAlert, cel: &mut Activation<'_>) -> bool {
        match self {
            RuleCondition::Match(condition) => condition.holds(alert),
            RuleCondition::Cel(program) => program.evaluate(cel.get()).matched,
        }
    }

    fn evaluate(&self, alert: &RoutedAlert, cel: &mut Activation<'_>) -> ConditionResult {
        match self {
            RuleCondition::Match(condition) => condition.evaluate(alert),
            RuleCondition::Cel(program) => {
                let outcome = program.evaluate(cel.get());
                ConditionResult {
                    field: "cel".into(),
                    operator: "cel",
                    expected: program.source().to_string(),
                    actual: None,
                    matched: outcome.matched,
                    error: outcome.error,
                }
            }
        }
    }
}

/// The CEL activation of one alert, built the first time a CEL condition needs it.
struct Activation<'a> {
    env: &'a CelEnv,
    alert: &'a RoutedAlert,
    now: DateTime<Utc>,
    built: Option<CelActivation>,
}

impl Activation<'_> {
    fn get(&mut self) -> &CelActivation {
        self.built
            .get_or_insert_with(|| CelActivation::new(self.env, self.alert, self.now))
    }
}

/// How much of the decision to explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Explain {
    /// Every rule, every condition: for TestRoutingRule and SimulateRouting.
    Everything,
    /// The matched rules with every condition; the others are only counted. What the
    /// engine records for each alert, so a storm is not slowed by explanations nobody
    /// reads.
    Matches,
}

/// How one rule fared against one alert.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleEvaluation {
    pub rule_id: Uuid,
    pub rule_name: String,
    /// False when the rule was skipped: disabled, or after a terminal match.
    pub evaluated: bool,
    pub matched: bool,
    /// Why it was skipped, when it was.
    pub skipped_because: Option<&'static str>,
    pub time: Option<TimeResult>,
    pub conditions: Vec<ConditionResult>,
}

/// What routing decided for one alert, with its full explanation.
#[derive(Debug)]
pub struct Decision<'a, A> {
    /// Every rule's evaluation, or only the matched ones' (see [`Explain`]).
    pub evaluations: Vec<RuleEvaluation>,
    /// Rules evaluated (not skipped).
    pub rules_evaluated: usize,
    /// The actions to run, in rule order, each with the rule it came from (`None` for
    /// the defaults).
    pub actions: Vec<(Option<Uuid>, &'a A)>,
    pub used_defaults: bool,
}

/// What runs when no rule matches: the actions, for alerts at or above a severity (so
/// an unmatched info alert need not page anyone).
#[derive(Clone, Debug)]
pub struct Defaults<A> {
    pub actions: Vec<A>,
    pub minimum_severity: Severity,
}

impl<A> Defaults<A> {
    pub fn none() -> Defaults<A> {
        Defaults {
            actions: Vec::new(),
            minimum_severity: Severity::Info,
        }
    }
}

/// A compiled, ordered rule set: built when rules change, shared by every decision.
#[derive(Clone, Debug)]
pub struct RuleSet<A> {
    rules: Vec<Rule<A>>,
    defaults: Defaults<A>,
    env: CelEnv,
}

impl<A> RuleSet<A> {
    /// Orders the rules by priority (ties by name, then id, so the order is stable).
    /// `env` must be the environment the rules' CEL conditions were compiled in.
    pub fn new(mut rules: Vec<Rule<A>>, defaults: Defaults<A>, env: CelEnv) -> RuleSet<A> {
        rules.sort_by(|a, b| (a.priority, &a.name, a.id).cmp(&(b.priority, &b.name, b.id)));
        RuleSet {
            rules,
            defaults,
            env,
        }
    }

    pub fn rules(&self) -> &[Rule<A>] {
        &self.rules
    }

    pub fn defaults(&self) -> &Defaults<A> {
        &self.defaults
    }

    /// Decides for `alert` at `now`. `include_disabled` evaluates disabled rules as if
    /// enabled (a what-if for simulations).
    pub fn decide(
        &self,
        alert: &RoutedAlert,
        now: DateTime<Utc>,
        include_disabled: bool,
        explain: Explain,
    ) -> Decision<'_, A> {
        let mut cel = Activation {
            env: &self.env,
            alert,
            now,
            built: None,
        };
        let mut evaluations = Vec::new();
        let mut actions = Vec::new();
        let mut stopped = false;
        let mut matched_any = false;
        let mut rules_evaluated = 0;
        for rule in &self.rules {
            let skip = if stopped {
                Some("an earlier terminal rule matched")
            } else if !rule.enabled && !include_disabled {
                Some("disabled")
            } else {
                None
            };
            if let Some(reason) = skip {
                if explain == Explain::Everything {
                    evaluations.push(RuleEvaluation {
                        rule_id: rule.id,
                        rule_name: rule.name.clone(),
                        evaluated: false,
                        matched: false,
                        skipped_because: Some(reason),
                        time: None,
                        conditions: Vec::new(),
                    });
                }
                continue;
            }
            rules_evaluated += 1;
            let matched = match explain {
                Explain::Everything => {
                    let evaluation = evaluate(rule, alert, now, &mut cel);
                    let matched = evaluation.matched;
                    evaluations.push(evaluation);
                    matched
                }
                Explain::Matches => {
                    let matched = rule.time.as_ref().is_none_or(|t| t.holds(now))
                        && rule.conditions.iter().all(|c| c.holds(alert, &mut cel));
                    if matched {
                        evaluations.push(evaluate(rule, alert, now, &mut cel));
                    }
                    matched
                }
            };
            if matched {
                matched_any = true;
                actions.extend(rule.actions.iter().map(|a| (Some(rule.id), a)));
                stopped = rule.terminal;
            }
        }
        let used_defaults = !matched_any
            && !self.defaults.actions.is_empty()
            && alert.severity.rank() >= self.defaults.minimum_severity.rank();
        if used_defaults {
            actions.extend(self.defaults.actions.iter().map(|a| (None, a)));
        }
        Decision {
            evaluations,
            actions,
            used_defaults,
            rules_evaluated,
        }
    }
}

/// One rule against one alert, fully explained: the time condition first, then every
/// condition (all are evaluated, so the explanation is complete).
fn evaluate<A>(
    rule: &Rule<A>,
    alert: &RoutedAlert,
    now: DateTime<Utc>,
    cel: &mut Activation<'_>,
) -> RuleEvaluation {
    let time = rule.time.as_ref().map(|t| t.evaluate(now));
    let conditions: Vec<ConditionResult> = rule
        .conditions
        .iter()
        .map(|c| c.evaluate(alert, cel))
        .collect();
    let matched = time.as_ref().is_none_or(|t| t.matched) && conditions.iter().all(|c| c.matched);
    RuleEvaluation {
        rule_id: rule.id,
        rule_name: rule.name.clone(),
        evaluated: true,
        matched,
        skipped_because: None,
        time,
        conditions,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::domain::routing::condition::{ConditionSpec, Field, Operator};
    use crate::domain::severity::Severity;

    fn alert(severity: Severity, site: &str) -> RoutedAlert {
        RoutedAlert {
            summary: "down".into(),
            severity,
            source: "alertmanager".into(),
            service_id: "svc".into(),
            status: "triggered".into(),
            labels: BTreeMap::from([("site".into(), site.into())]),
            annotations: BTreeMap::new(),
            reference: Default::default(),
        }
    }

    fn rule(name: &str, priority: i32, terminal: bool, site: &str) -> Rule<&'static str> {
        let condition = Condition::compile(
            Field::Label("site".into()),
            Operator::Equals,
            ConditionSpec {
                value: site.into(),
                values: Vec::new(),
            },
        )
        .unwrap();
        Rule {
            id: Uuid::new_v4(),
            name: name.into(),
            priority,
            enabled: true,
            terminal,
            conditions: vec![RuleCondition::Match(condition)],
            time: None,
            actions: vec![match name {
                "iad-first" => "page-iad",
                "iad-second" => "ticket-iad",
                _ => "other",
            }],
        }
    }

    pub(super) fn defaults() -> Defaults<&'static str> {
        Defaults {
            actions: vec!["default"],
            minimum_severity: Severity::Info,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    #[test]
    fn priority_orders_and_non_terminal_rules_fall_through() {
        let set = RuleSet::new(
            vec![
                rule("iad-second", 20, false, "IAD1"),
                rule("iad-first", 10, false, "IAD1"),
            ],
            defaults(),
            CelEnv::new(),
        );
        let decision = set.decide(
            &alert(Severity::High, "IAD1"),
            now(),
            false,
            Explain::Everything,
        );
        let actions: Vec<&str> = decision.actions.iter().map(|(_, a)| **a).collect();
        assert_eq!(actions, ["page-iad", "ticket-iad"]);
        assert!(!decision.used_defaults);
    }

    #[test]
    fn a_terminal_match_stops_and_says_so() {
        let set = RuleSet::new(
            vec![
                rule("iad-first", 10, true, "IAD1"),
                rule("iad-second", 20, false, "IAD1"),
            ],
            defaults(),
            CelEnv::new(),
        );
        let decision = set.decide(
            &alert(Severity::High, "IAD1"),
            now(),
            false,
            Explain::Everything,
        );
        let actions: Vec<&str> = decision.actions.iter().map(|(_, a)| **a).collect();
        assert_eq!(actions, ["page-iad"]);
        assert_eq!(
            decision.evaluations[1].skipped_because,
            Some("an earlier terminal rule matched")
        );
    }

    #[test]
    fn no_match_runs_the_defaults_and_disabled_rules_are_skipped_unless_asked() {
        let mut disabled = rule("iad-first", 10, true, "IAD1");
        disabled.enabled = false;
        let set = RuleSet::new(
            vec![disabled, rule("fra", 20, false, "FRA3")],
            defaults(),
            CelEnv::new(),
        );
        let decision = set.decide(
            &alert(Severity::High, "IAD1"),
            now(),
            false,
            Explain::Everything,
        );
        assert!(decision.used_defaults);
        assert_eq!(decision.actions.len(), 1);
        assert_eq!(*decision.actions[0].1, "default");
        assert_eq!(decision.actions[0].0, None);
        assert_eq!(decision.evaluations[0].skipped_because, Some("disabled"));
        let what_if = set.decide(
            &alert(Severity::High, "IAD1"),
            now(),
            true,
            Explain::Everything,
        );
        assert!(what_if.evaluations[0].matched);
        assert!(!what_if.used_defaults);
    }

    #[test]
    fn defaults_apply_only_at_or_above_their_minimum_severity() {
        let set = RuleSet::new(
            vec![rule("fra", 20, false, "FRA3")],
            Defaults {
                actions: vec!["default"],
                minimum_severity: Severity::High,
            },
            CelEnv::new(),
        );
        let unmatched =
            |severity| set.decide(&alert(severity, "IAD1"), now(), false, Explain::Matches);
        assert!(unmatched(Severity::Critical).used_defaults);
        assert!(unmatched(Severity::High).used_defaults);
        let low = unmatched(Severity::Low);
        assert!(!low.used_defaults);
        assert!(low.actions.is_empty());
        let empty: RuleSet<&str> = RuleSet::new(Vec::new(), Defaults::none(), CelEnv::new());
        assert!(
            !empty
                .decide(
                    &alert(Severity::Critical, "IAD1"),
                    now(),
                    false,
                    Explain::Matches
                )
                .used_defaults,
            "no default actions: nothing to use"
        );
    }

    #[test]
    fn explaining_matches_only_keeps_the_same_decision() {
        let set = RuleSet::new(
            vec![
                rule("fra", 5, false, "FRA3"),
                rule("iad-first", 10, true, "IAD1"),
                rule("iad-second", 20, false, "IAD1"),
            ],
            defaults(),
            CelEnv::new(),
        );
        let alert = alert(Severity::High, "IAD1");
        let full = set.decide(&alert, now(), false, Explain::Everything);
        let lean = set.decide(&alert, now(), false, Explain::Matches);
        let actions = |d: &Decision<'_, &str>| {
            d.actions
                .iter()
                .map(|(r, a)| (*r, a.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(actions(&full), actions(&lean));
        assert_eq!(full.evaluations.len(), 3);
        assert_eq!(lean.evaluations.len(), 1, "only the match is explained");
        assert_eq!(lean.evaluations[0], full.evaluations[1]);
        assert_eq!((full.rules_evaluated, lean.rules_evaluated), (2, 2));
    }

    #[test]
    fn a_time_condition_must_hold_too() {
        let mut office = rule("iad-first", 10, false, "IAD1");
        office.time = Some(
            TimeCondition::parse(
                "UTC",
                &[(vec![1, 2, 3, 4, 5], "08:00".into(), "18:00".into())],
                false,
            )
            .unwrap(),
        );
        let set = RuleSet::new(vec![office], defaults(), CelEnv::new());
        assert!(
            !set.decide(
                &alert(Severity::High, "IAD1"),
                now(),
                false,
                Explain::Everything
            )
            .used_defaults
        );
        let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let decision = set.decide(
            &alert(Severity::High, "IAD1"),
            saturday,
            false,
            Explain::Everything,
        );
        assert!(decision.used_defaults);
        assert!(!decision.evaluations[0].time.as_ref().unwrap().matched);
        assert!(
            decision.evaluations[0].conditions[0].matched,
            "conditions still explained"
        );
    }
}

#[cfg(test)]
mod cel_rule_tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::routing::cel::CelEnv;
    use crate::domain::severity::Severity;

    #[test]
    fn cel_errors_do_not_match_and_are_explained() {
        let env = CelEnv::new();
        let rule = Rule {
            id: Uuid::new_v4(),
            name: "cel".into(),
            priority: 1,
            enabled: true,
            terminal: false,
            conditions: vec![RuleCondition::Cel(
                CelCondition::compile("labels.pop == 'x'", &env).unwrap(),
            )],
            time: None,
            actions: vec!["page"],
        };
        let alert = RoutedAlert {
            summary: "x".into(),
            severity: Severity::Low,
            source: "grpc".into(),
            service_id: "svc".into(),
            status: "triggered".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            reference: Default::default(),
        };
        let set = RuleSet::new(vec![rule], super::tests::defaults(), env);
        let decision = set.decide(&alert, Utc::now(), false, Explain::Everything);
        assert!(decision.used_defaults);
        let result = &decision.evaluations[0].conditions[0];
        assert_eq!(result.operator, "cel");
        assert!(result.error.is_some());
    }
}
