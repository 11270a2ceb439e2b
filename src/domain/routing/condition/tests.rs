use super::*;

fn alert() -> RoutedAlert {
    RoutedAlert {
        summary: "BGP session to AS3356 down".into(),
        severity: Severity::High,
        source: "alertmanager".into(),
        service_id: "svc-1".into(),
        status: "triggered".into(),
        labels: BTreeMap::from([
            ("alertname".into(), "BGPSessionDown".into()),
            ("device".into(), "core-rtr-01.iad1".into()),
            ("site".into(), "IAD1".into()),
            ("prefixes".into(), "812".into()),
            ("customer_tier".into(), "enterprise".into()),
            ("equipment_type".into(), "core_router".into()),
            ("carrier".into(), "Level3".into()),
        ]),
        annotations: BTreeMap::from([("runbook_url".into(), "https://rb/bgp".into())]),
        reference: Default::default(),
    }
}

fn text(value: &str) -> ConditionSpec {
    ConditionSpec {
        value: value.into(),
        values: Vec::new(),
    }
}

fn list(values: &[&str]) -> ConditionSpec {
    ConditionSpec {
        value: String::new(),
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

fn check(field: Field, operator: Operator, spec: ConditionSpec) -> bool {
    Condition::compile(field, operator, spec)
        .unwrap()
        .evaluate(&alert())
        .matched
}

fn label(name: &str) -> Field {
    Field::Label(name.into())
}

#[test]
fn every_operator() {
    use Operator::*;
    assert!(check(label("site"), Equals, text("IAD1")));
    assert!(
        !check(label("site"), Equals, text("iad1")),
        "case-sensitive"
    );
    assert!(check(label("site"), NotEquals, text("FRA3")));
    assert!(check(label("device"), Contains, text("rtr")));
    assert!(check(label("device"), NotContains, text("switch")));
    assert!(check(label("device"), StartsWith, text("core-")));
    assert!(check(label("device"), EndsWith, text(".iad1")));
    assert!(
        check(label("device"), Regex, text("rtr-\\d+")),
        "searches unanchored"
    );
    assert!(
        !check(label("device"), Regex, text("^rtr")),
        "anchors when asked"
    );
    assert!(check(label("site"), In, list(&["IAD1", "IAD2"])));
    assert!(check(label("site"), NotIn, list(&["FRA3"])));
    assert!(check(label("device"), Exists, ConditionSpec::default()));
    assert!(check(label("missing"), NotExists, ConditionSpec::default()));
    assert!(!check(label("missing"), Exists, ConditionSpec::default()));
    assert!(check(label("prefixes"), GreaterThan, text("500")));
    assert!(check(label("prefixes"), LessThan, text("1000.5")));
    assert!(
        !check(label("site"), GreaterThan, text("1")),
        "non-numeric never compares"
    );
}

#[test]
fn missing_fields_fail_positive_and_pass_negative_comparisons() {
    use Operator::*;
    assert!(!check(label("pop"), Equals, text("x")));
    assert!(check(label("pop"), NotEquals, text("x")));
    assert!(check(label("pop"), NotContains, text("x")));
    assert!(check(label("pop"), NotIn, list(&["x"])));
    assert!(!check(label("pop"), Regex, text(".*")));
}

#[test]
fn every_field() {
    use Operator::Equals;
    assert!(check(
        Field::Annotation("runbook_url".into()),
        Equals,
        text("https://rb/bgp")
    ));
    assert!(check(Field::Source, Equals, text("alertmanager")));
    assert!(check(Field::Service, Equals, text("svc-1")));
    assert!(check(Field::Site, Equals, text("IAD1")));
    assert!(
        check(Field::Pop, Equals, text("IAD1")),
        "a site is its own POP without a pop label"
    );
    assert!(check(Field::CustomerTier, Equals, text("enterprise")));
    assert!(check(Field::EquipmentType, Equals, text("core_router")));
    assert!(check(Field::Carrier, Equals, text("Level3")));
    let mut enriched = alert();
    enriched.labels.insert("oncall_site".into(), "IAD2".into());
    let site = Condition::compile(Field::Site, Equals, text("IAD2")).unwrap();
    assert!(
        site.evaluate(&enriched).matched,
        "enrichment wins over raw labels"
    );
}

#[test]
fn severity_compares_by_name_and_rank() {
    use Operator::*;
    assert!(check(Field::Severity, Equals, text("high")));
    assert!(check(Field::Severity, Equals, text("SEVERITY_HIGH")));
    assert!(check(Field::Severity, GreaterThan, text("medium")));
    assert!(check(Field::Severity, LessThan, text("critical")));
    assert!(check(Field::Severity, GreaterThan, text("3")), "or by rank");
    assert!(Condition::compile(Field::Severity, Equals, text("dire")).is_err());
}

#[test]
fn bad_conditions_name_their_part() {
    let err = Condition::compile(label("x"), Operator::Regex, text("(")).unwrap_err();
    assert_eq!(err.field, "regex_pattern");
    let err = Condition::compile(label("x"), Operator::In, list(&[])).unwrap_err();
    assert_eq!(err.field, "string_list");
    let err = Condition::compile(label("x"), Operator::GreaterThan, text("lots")).unwrap_err();
    assert_eq!(err.field, "string_value");
    let err = Condition::compile(label(""), Operator::Exists, text("")).unwrap_err();
    assert_eq!(err.field, "field");
    let err = Condition::compile(label("x"), Operator::Equals, text("")).unwrap_err();
    assert_eq!(err.field, "string_value");
}

#[test]
fn results_explain_themselves() {
    let result = Condition::compile(label("site"), Operator::In, list(&["FRA3", "AMS1"]))
        .unwrap()
        .evaluate(&alert());
    assert_eq!(result.field, "labels.site");
    assert_eq!(result.expected, "FRA3, AMS1");
    assert_eq!(result.actual.as_deref(), Some("IAD1"));
    assert!(!result.matched);
}
