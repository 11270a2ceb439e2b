//! CEL conditions: compiled when a rule is saved, evaluated with plain values (lowercase
//! strings, no enum prefixes) and oncall's ISP functions. An expression that fails at run
//! time does not match, and the error is kept for the audit log.

use std::net::IpAddr;
use std::sync::Arc;

use cel::objects::Key;
use cel::{Context, Env, Program, Value};
use chrono::{DateTime, Utc};

use super::condition::RoutedAlert;

/// The CEL environment every rule shares: the standard library and macros. Built once.
#[derive(Clone)]
pub struct CelEnv(Arc<Env>);

impl CelEnv {
    pub fn new() -> CelEnv {
        CelEnv(Arc::new(Env::stdlib()))
    }
}

impl Default for CelEnv {
    fn default() -> Self {
        CelEnv::new()
    }
}

impl std::fmt::Debug for CelEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CelEnv")
    }
}

#[derive(Clone)]
pub struct CelCondition {
    source: String,
    program: Arc<Program>,
}

/// Two conditions are the same when their source is: both were compiled in the one
/// environment there is.
impl PartialEq for CelCondition {
    fn eq(&self, other: &CelCondition) -> bool {
        self.source == other.source
    }
}

impl Eq for CelCondition {}

impl std::fmt::Debug for CelCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CelCondition").field(&self.source).finish()
    }
}

/// What one evaluation gave: a match, or an error that counts as no match.
#[derive(Clone, Debug, PartialEq)]
pub struct CelOutcome {
    pub matched: bool,
    pub error: Option<String>,
}

impl CelCondition {
    /// Parses an expression; the error is the compiler's message.
    pub fn compile(source: &str, env: &CelEnv) -> Result<CelCondition, String> {
        if source.trim().is_empty() {
            return Err("the expression is empty".into());
        }
        // Compiled in the environment it will run in, so macros and declared functions
        // agree between saving and deciding.
        let program = env.0.compile(source).map_err(|e| e.to_string())?;
        Ok(CelCondition {
            source: source.to_string(),
            program: Arc::new(program),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against an activation built once per alert.
    pub fn evaluate(&self, activation: &CelActivation) -> CelOutcome {
        let context = match &activation.context {
            Ok(context) => context,
            Err(error) => return failed(error.clone()),
        };
        match self.program.execute(context) {
            Ok(Value::Bool(matched)) => CelOutcome {
                matched,
                error: None,
            },
            Ok(other) => failed(format!("the expression gave {other:?}, not a bool")),
            Err(e) => failed(e.to_string()),
        }
    }
}

/// The variables and functions of one alert at one instant, built once and shared by
/// every CEL condition that alert meets.
pub struct CelActivation {
    context: Result<Context<'static, 'static>, String>,
}

impl CelActivation {
    pub fn new(env: &CelEnv, alert: &RoutedAlert, now: DateTime<Utc>) -> CelActivation {
        let mut context = Context::with_env(env.0.clone());
        if let Err(e) = context.add_function("cidrContains", cidr_contains) {
            return CelActivation {
                context: Err(format!("cidrContains: {e:?}")),
            };
        }
        let text = |s: &str| Value::from(s.to_string());
        let map = |pairs: Vec<(&str, Value)>| {
            Value::from(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<std::collections::HashMap<String, Value>>(),
            )
        };
        let strings = |m: &std::collections::BTreeMap<String, String>| {
            Value::from(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<std::collections::HashMap<String, String>>(),
            )
        };
        let fact = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| alert.labels.get(*n))
                .map_or(Value::Null, |v| text(v))
        };
        context.add_variable_from_value(
            "alert",
            map(vec![
                ("summary", text(&alert.summary)),
                ("severity", text(alert.severity.as_str())),
                (
                    "severity_rank",
                    Value::Int(i64::from(alert.severity.rank())),
                ),
                ("source", text(&alert.source)),
                ("service_id", text(&alert.service_id)),
                ("status", text(&alert.status)),
            ]),
        );
        context.add_variable_from_value("labels", strings(&alert.labels));
        context.add_variable_from_value("annotations", strings(&alert.annotations));
        let facts = &alert.reference;
        let or_label =
            |value: Option<&str>, names: &[&str]| value.map_or_else(|| fact(names), text);
        let site = facts.site.as_deref();
        context.add_variable_from_value(
            "site",
            map(vec![
                (
                    "code",
                    or_label(
                        site.map(|s| s.code.as_str()),
                        &["oncall_site", "site", "datacenter", "pop"],
                    ),
                ),
                ("name", site.map_or(Value::Null, |s| text(&s.name))),
                (
                    "type",
                    or_label(site.map(|s| s.site_type.as_str()), &["oncall_site_type"]),
                ),
                (
                    "region",
                    or_label(site.map(|s| s.region.as_str()), &["oncall_region"]),
                ),
                ("country", site.map_or(Value::Null, |s| text(&s.country))),
                ("city", site.map_or(Value::Null, |s| text(&s.city))),
                (
                    "tier",
                    site.map_or(Value::Null, |s| Value::Int(i64::from(s.tier))),
                ),
                (
                    "timezone",
                    site.map_or(Value::Null, |s| text(s.time_zone.name())),
                ),
            ]),
        );
        let tier = facts.tier.as_deref();
        context.add_variable_from_value(
            "tier",
            map(vec![
                (
                    "name",
                    or_label(
                        tier.map(|t| t.name.as_str()),
                        &["oncall_customer_tier", "customer_tier"],
                    ),
                ),
                (
                    "level",
                    tier.map_or(Value::Null, |t| Value::Int(i64::from(t.level))),
                ),
                (
                    "escalation_multiplier",
                    tier.map_or(Value::Null, |t| Value::Float(t.escalation_multiplier)),
                ),
            ]),
        );
        let equipment = facts.equipment.as_deref();
        context.add_variable_from_value(
            "equipment",
            map(vec![
                (
                    "name",
                    or_label(
                        equipment.map(|e| e.name.as_str()),
                        &["oncall_equipment_type", "equipment_type"],
                    ),
                ),
                (
                    "category",
                    equipment.map_or(Value::Null, |e| text(&e.category.to_lowercase())),
                ),
                (
                    "severity_boost",
                    equipment.map_or(Value::Null, |e| Value::Int(i64::from(e.severity_boost))),
                ),
            ]),
        );
        let carrier = facts.carrier.as_deref();
        context.add_variable_from_value(
            "carrier",
            map(vec![
                (
                    "name",
                    or_label(
                        carrier.map(|c| c.name.as_str()),
                        &["oncall_carrier", "carrier"],
                    ),
                ),
                (
                    "asn",
                    carrier.map_or(Value::Null, |c| Value::Int(i64::from(c.asn))),
                ),
                (
                    "relationship",
                    or_label(
                        carrier.map(|c| c.relationship.as_str()),
                        &["oncall_carrier_relationship"],
                    ),
                ),
            ]),
        );
        // `inBusinessHours(site)`: the only site in scope is the alert's, so the function
        // answers for it; a site oncall does not know has no business hours.
        let in_hours = facts
            .site
            .as_ref()
            .map(|s| (s.code.clone(), s.in_business_hours(now)));
        if let Err(e) = context.add_function("inBusinessHours", move |site: Value| {
            business_hours_of(&site, in_hours.as_ref())
        }) {
            return CelActivation {
                context: Err(format!("inBusinessHours: {e:?}")),
            };
        }
        context.add_variable_from_value("now", Value::Timestamp(now.fixed_offset()));
        CelActivation {
            context: Ok(context),
        }
    }
}

/// Whether the site given is the alert's and in its business hours now.
fn business_hours_of(site: &Value, alert_site: Option<&(String, bool)>) -> bool {
    let Value::Map(site) = site else {
        return false;
    };
    let code = site.map.get(&Key::String(Arc::new("code".into())));
    match (code, alert_site) {
        (Some(Value::String(code)), Some((known, in_hours))) => code.as_str() == known && *in_hours,
        _ => false,
    }
}

fn failed(error: String) -> CelOutcome {
    CelOutcome {
        matched: false,
        error: Some(error),
    }
}

/// `cidrContains("10.0.0.0/8", ip)`: whether the address is inside the block. Anything
/// unparseable is simply not contained.
fn cidr_contains(cidr: Arc<String>, ip: Arc<String>) -> bool {
    let Some((network, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(network), Ok(bits), Ok(ip)) = (
        network.trim().parse::<IpAddr>(),
        bits.trim().parse::<u32>(),
        ip.trim().parse::<IpAddr>(),
    ) else {
        return false;
    };
    match (network, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::domain::severity::Severity;

    fn alert() -> RoutedAlert {
        RoutedAlert {
            summary: "BGP down".into(),
            severity: Severity::Critical,
            source: "alertmanager".into(),
            service_id: "svc".into(),
            status: "triggered".into(),
            labels: BTreeMap::from([
                ("site".into(), "IAD1".into()),
                ("peer_ip".into(), "10.20.30.40".into()),
                ("device".into(), "core-rtr-01.iad1".into()),
            ]),
            annotations: BTreeMap::new(),
            reference: Default::default(),
        }
    }

    fn eval(source: &str) -> CelOutcome {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let env = CelEnv::new();
        CelCondition::compile(source, &env)
            .unwrap()
            .evaluate(&CelActivation::new(&env, &alert(), now))
    }

    #[test]
    fn plain_values_and_isp_functions() {
        assert!(eval("labels.site == 'IAD1'").matched);
        assert!(eval("alert.severity == 'critical' && alert.severity_rank >= 4").matched);
        assert!(eval("site.code == 'IAD1'").matched);
        assert!(eval("cidrContains('10.0.0.0/8', labels.peer_ip)").matched);
        assert!(!eval("cidrContains('192.168.0.0/16', labels.peer_ip)").matched);
        assert!(eval("labels.device.matches('^core-')").matched);
        assert!(eval("'site' in labels && !('pop' in labels)").matched);
        assert!(eval("now > timestamp('2026-01-01T00:00:00Z')").matched);
    }

    #[test]
    fn reference_entities_and_business_hours() {
        use crate::domain::enrich::{ReferenceFacts, SiteType, site};
        let site = site::sample("IAD1", SiteType::Pop, &[]);
        let mut alert = alert();
        alert.reference = ReferenceFacts {
            site: Some(Arc::new(site)),
            ..ReferenceFacts::default()
        };
        let env = CelEnv::new();
        let at = |hour: u32, source: &str| {
            // 2026-11-30 is a Monday; New York is UTC-5 then.
            let now = Utc.with_ymd_and_hms(2026, 11, 30, hour, 0, 0).unwrap();
            CelCondition::compile(source, &env)
                .unwrap()
                .evaluate(&CelActivation::new(&env, &alert, now))
                .matched
        };
        assert!(at(
            15,
            r#"site.type == "pop" && site.tier == 1 && site.city == "Ashburn""#
        ));
        assert!(at(15, "inBusinessHours(site)"));
        assert!(!at(23, "inBusinessHours(site)"));
        assert!(!at(15, "inBusinessHours({'code': 'LHR2'})"));
        // Without reference data the facts fall back to the labels and stay plain.
        assert!(eval("site.code == 'IAD1' && site.type == null && !inBusinessHours(site)").matched);
    }

    #[test]
    fn runtime_errors_do_not_match_and_are_reported() {
        let outcome = eval("labels.missing == 'x'");
        assert!(!outcome.matched);
        assert!(outcome.error.is_some());
        let outcome = eval("labels.site");
        assert!(outcome.error.unwrap().contains("not a bool"));
    }

    #[test]
    fn compile_errors_carry_the_compilers_message() {
        let err = CelCondition::compile("labels.site ==", &CelEnv::new()).unwrap_err();
        assert!(!err.is_empty());
        assert!(CelCondition::compile("  ", &CelEnv::new()).is_err());
    }

    #[test]
    fn cidr_edges() {
        let c = |a: &str, b: &str| cidr_contains(Arc::new(a.into()), Arc::new(b.into()));
        assert!(c("0.0.0.0/0", "203.0.113.9"));
        assert!(c("203.0.113.0/24", "203.0.113.255"));
        assert!(!c("203.0.113.0/24", "203.0.114.0"));
        assert!(c("2001:db8::/32", "2001:db8::1"));
        assert!(!c("2001:db8::/32", "10.0.0.1"));
        assert!(!c("nonsense", "10.0.0.1"));
        assert!(!c("10.0.0.0/33", "10.0.0.1"));
    }
}
