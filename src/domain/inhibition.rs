//! Inhibition: root-cause suppression as in Alertmanager. While an open alert matches a
//! rule's source matchers, a new alert that matches its target matchers and carries the
//! same values of the rule's `equal` labels is held (stored SUPPRESSED) by that source.
//!
//! `SourceIndex` is the set of open source alerts keyed by (rule, equal-label values), so
//! the check for each alert of a storm is a map lookup per rule, not a search of the open
//! alerts. It knows nothing of where alerts come from or how a held alert is released.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use super::matcher::Matcher;

#[derive(Clone, Debug)]
pub struct InhibitionRule {
    pub id: Uuid,
    pub name: String,
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    /// Labels whose values must be the same on source and target; a label missing on
    /// both counts as equal, as in Alertmanager.
    pub equal: Vec<String>,
}

type Labels = BTreeMap<String, String>;

impl InhibitionRule {
    pub fn is_source(&self, labels: &Labels) -> bool {
        self.source.iter().all(|m| m.matches(labels))
    }

    pub fn is_target(&self, labels: &Labels) -> bool {
        self.target.iter().all(|m| m.matches(labels))
    }

    /// The values of the equal labels, in the rule's order; missing labels are empty.
    pub fn key(&self, labels: &Labels) -> Vec<String> {
        self.equal
            .iter()
            .map(|name| labels.get(name).cloned().unwrap_or_default())
            .collect()
    }
}

/// The open source alerts of every rule, by the values of the rule's equal labels.
#[derive(Debug, Default)]
pub struct SourceIndex {
    rules: Vec<InhibitionRule>,
    /// (rule index, key) → open source alerts.
    sources: HashMap<(usize, Vec<String>), BTreeSet<Uuid>>,
    /// Source alert → the entries it sits in, so a resolve removes it without a search.
    entries: HashMap<Uuid, Vec<(usize, Vec<String>)>>,
}

impl SourceIndex {
    pub fn new(rules: Vec<InhibitionRule>) -> SourceIndex {
        SourceIndex {
            rules,
            ..SourceIndex::default()
        }
    }

    pub fn rules(&self) -> &[InhibitionRule] {
        &self.rules
    }

    /// Records an open alert as a source of every rule whose source matchers it meets;
    /// returns those rules, so the caller can hold the targets already open.
    pub fn add_source(&mut self, alert: Uuid, labels: &Labels) -> Vec<&InhibitionRule> {
        let mut matched = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.is_source(labels) {
                continue;
            }
            let entry = (i, rule.key(labels));
            self.sources.entry(entry.clone()).or_default().insert(alert);
            let entries = self.entries.entry(alert).or_default();
            if !entries.contains(&entry) {
                entries.push(entry);
            }
            matched.push(rule);
        }
        matched
    }

    /// Forgets a source (it resolved); true when it was one.
    pub fn remove_source(&mut self, alert: Uuid) -> bool {
        let Some(entries) = self.entries.remove(&alert) else {
            return false;
        };
        for entry in entries {
            if let Some(set) = self.sources.get_mut(&entry) {
                set.remove(&alert);
                if set.is_empty() {
                    self.sources.remove(&entry);
                }
            }
        }
        true
    }

    pub fn is_source(&self, alert: Uuid) -> bool {
        self.entries.contains_key(&alert)
    }

    /// The open source alert that inhibits an alert with these labels, if any: the
    /// oldest source of the first rule (in rule order) that targets it. An alert never
    /// inhibits itself.
    pub fn inhibitor(&self, alert: Uuid, labels: &Labels) -> Option<(Uuid, &InhibitionRule)> {
        self.rules.iter().enumerate().find_map(|(i, rule)| {
            if !rule.is_target(labels) {
                return None;
            }
            self.sources
                .get(&(i, rule.key(labels)))?
                .iter()
                .find(|source| **source != alert)
                .map(|source| (*source, rule))
        })
    }

    /// Every source alert the index holds.
    pub fn sources(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.entries.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn bgp_rule() -> InhibitionRule {
        InhibitionRule {
            id: Uuid::now_v7(),
            name: "bgp-down-hides-ifdown".into(),
            source: vec![Matcher::parse("alertname=BGPSessionDown").unwrap()],
            target: vec![Matcher::parse("alertname=~InterfaceDown|PeerUnreachable").unwrap()],
            equal: vec!["site".into(), "device".into()],
        }
    }

    #[test]
    fn a_source_inhibits_targets_with_the_same_equal_labels_only() {
        let mut index = SourceIndex::new(vec![bgp_rule()]);
        let bgp = Uuid::now_v7();
        let source = labels(&[
            ("alertname", "BGPSessionDown"),
            ("site", "IAD1"),
            ("device", "core-1"),
        ]);
        assert_eq!(index.add_source(bgp, &source).len(), 1);
        let same = labels(&[
            ("alertname", "InterfaceDown"),
            ("site", "IAD1"),
            ("device", "core-1"),
        ]);
        let other_device = labels(&[
            ("alertname", "InterfaceDown"),
            ("site", "IAD1"),
            ("device", "core-2"),
        ]);
        let not_a_target = labels(&[
            ("alertname", "HighCPU"),
            ("site", "IAD1"),
            ("device", "core-1"),
        ]);
        let target = Uuid::now_v7();
        assert_eq!(
            index.inhibitor(target, &same).map(|(s, _)| s),
            Some(bgp),
            "same site and device"
        );
        assert!(index.inhibitor(target, &other_device).is_none());
        assert!(index.inhibitor(target, &not_a_target).is_none());
    }

    #[test]
    fn missing_equal_labels_count_as_equal() {
        let mut index = SourceIndex::new(vec![bgp_rule()]);
        let bgp = Uuid::now_v7();
        index.add_source(bgp, &labels(&[("alertname", "BGPSessionDown")]));
        let target = labels(&[("alertname", "PeerUnreachable")]);
        assert_eq!(
            index.inhibitor(Uuid::now_v7(), &target).map(|(s, _)| s),
            Some(bgp)
        );
    }

    #[test]
    fn removing_the_last_source_ends_the_inhibition() {
        let mut index = SourceIndex::new(vec![bgp_rule()]);
        let source = labels(&[("alertname", "BGPSessionDown"), ("site", "IAD1")]);
        let target = labels(&[("alertname", "InterfaceDown"), ("site", "IAD1")]);
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        index.add_source(first, &source);
        index.add_source(second, &source);
        assert!(index.remove_source(first));
        assert_eq!(
            index.inhibitor(Uuid::now_v7(), &target).map(|(s, _)| s),
            Some(second),
            "the other source still holds"
        );
        assert!(index.remove_source(second));
        assert!(index.inhibitor(Uuid::now_v7(), &target).is_none());
        assert!(!index.remove_source(second), "already gone");
        assert_eq!(index.sources().count(), 0);
    }

    #[test]
    fn an_alert_matching_source_and_target_does_not_inhibit_itself() {
        let rule = InhibitionRule {
            source: vec![Matcher::parse("severity=critical").unwrap()],
            target: vec![Matcher::parse("severity=~critical|high").unwrap()],
            equal: vec!["site".into()],
            ..bgp_rule()
        };
        let mut index = SourceIndex::new(vec![rule]);
        let alert = Uuid::now_v7();
        let both = labels(&[("severity", "critical"), ("site", "IAD1")]);
        index.add_source(alert, &both);
        assert!(index.inhibitor(alert, &both).is_none());
        assert!(index.is_source(alert));
    }

    #[test]
    fn adding_a_source_twice_keeps_one_entry() {
        let mut index = SourceIndex::new(vec![bgp_rule()]);
        let bgp = Uuid::now_v7();
        let source = labels(&[("alertname", "BGPSessionDown")]);
        index.add_source(bgp, &source);
        index.add_source(bgp, &source);
        assert!(index.remove_source(bgp));
        assert!(
            index
                .inhibitor(Uuid::now_v7(), &labels(&[("alertname", "InterfaceDown")]))
                .is_none()
        );
    }
}
