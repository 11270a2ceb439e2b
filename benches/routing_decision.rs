//! Routing decision time: 1,000 rules, 100 of them CEL, against realistic ISP alerts.
//! Prints p50/p99/max per decision. Run with `cargo bench --bench routing_decision`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use oncall::domain::routing::{
    CelCondition, CelEnv, Condition, ConditionSpec, Defaults, Explain, Field, Operator,
    RoutedAlert, Rule, RuleCondition, RuleSet, TimeCondition,
};
use oncall::domain::severity::Severity;
use uuid::Uuid;

const SITES: [&str; 8] = [
    "IAD1", "IAD2", "FRA3", "AMS1", "LON1", "ATL2", "SJC1", "NRT1",
];

fn text(value: &str) -> ConditionSpec {
    ConditionSpec {
        value: value.into(),
        values: Vec::new(),
    }
}

fn rules(env: &CelEnv) -> Vec<Rule<u32>> {
    (0..1_000u32)
        .map(|i| {
            let site = SITES[i as usize % SITES.len()];
            let mut conditions = vec![RuleCondition::Match(
                Condition::compile(Field::Site, Operator::Equals, text(site)).expect("site"),
            )];
            match i % 10 {
                0 => conditions.push(RuleCondition::Cel(
                    CelCondition::compile(
                        &format!(
                            "alert.severity_rank >= 4 && labels.device.startsWith('core-') && labels.interface != 'xe-0/0/{}'",
                            i % 48
                        ),
                        env,
                    )
                    .expect("cel"),
                )),
                1 => conditions.push(RuleCondition::Match(
                    Condition::compile(
                        Field::Label("device".into()),
                        Operator::Regex,
                        text(&format!("^(core|edge)-rtr-{:02}", i % 40)),
                    )
                    .expect("regex"),
                )),
                2 => conditions.push(RuleCondition::Match(
                    Condition::compile(
                        Field::Label("alertname".into()),
                        Operator::In,
                        ConditionSpec {
                            value: String::new(),
                            values: vec!["BGPSessionDown".into(), "InterfaceDown".into(), "LinkFlap".into()],
                        },
                    )
                    .expect("in"),
                )),
                _ => conditions.push(RuleCondition::Match(
                    Condition::compile(Field::Severity, Operator::GreaterThan, text("low")).expect("severity"),
                )),
            }
            let time = (i % 7 == 0).then(|| {
                TimeCondition::parse(
                    "America/New_York",
                    &[(vec![1, 2, 3, 4, 5], "08:00".into(), "20:00".into())],
                    i % 14 == 0,
                )
                .expect("time")
            });
            Rule {
                id: Uuid::new_v4(),
                name: format!("rule {i}"),
                priority: i as i32,
                enabled: true,
                terminal: false,
                conditions,
                time,
                actions: vec![i],
            }
        })
        .collect()
}

fn alerts() -> Vec<RoutedAlert> {
    (0..512)
        .map(|i| RoutedAlert {
            summary: format!("interface down on core-rtr-{:02}", i % 40),
            severity: [Severity::Critical, Severity::High, Severity::Medium][i % 3],
            source: "alertmanager".into(),
            service_id: "backbone".into(),
            status: "triggered".into(),
            labels: BTreeMap::from([
                (
                    "alertname".into(),
                    ["InterfaceDown", "BGPSessionDown", "HighCPU"][i % 3].into(),
                ),
                (
                    "device".into(),
                    format!("core-rtr-{:02}.{}", i % 40, SITES[i % 8].to_lowercase()),
                ),
                ("interface".into(), format!("xe-0/0/{}", i % 48)),
                ("site".into(), SITES[i % 8].into()),
                ("severity".into(), "warning".into()),
            ]),
            annotations: BTreeMap::from([("summary".into(), "interface down".into())]),
            reference: Default::default(),
        })
        .collect()
}

fn main() {
    let env = CelEnv::new();
    let set = RuleSet::new(rules(&env), Defaults::none(), env.clone());
    let alerts = alerts();
    let now = Utc::now();
    let mut matched = 0usize;
    for alert in &alerts {
        matched += set
            .decide(alert, now, false, Explain::Matches)
            .actions
            .len();
    }
    let mut times: Vec<Duration> = Vec::with_capacity(20_000);
    let started = Instant::now();
    for round in 0..20_000 {
        let alert = &alerts[round % alerts.len()];
        let t = Instant::now();
        let decision = set.decide(alert, now, false, Explain::Matches);
        times.push(t.elapsed());
        std::hint::black_box(decision);
    }
    let total = started.elapsed();
    times.sort();
    let pick = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
    println!(
        "1000 rules (100 CEL, 100 regex, 143 time windows), {} alerts, {} decisions in {:.2?}: p50 {:.1?}, p90 {:.1?}, p99 {:.1?}, max {:.1?} ({} actions matched in the warm-up)",
        alerts.len(),
        times.len(),
        total,
        pick(0.5),
        pick(0.9),
        pick(0.99),
        times[times.len() - 1],
        matched,
    );
}
