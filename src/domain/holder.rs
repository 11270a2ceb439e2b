//! What holds a suppressed alert, so that thing, and only it, lets it go: a maintenance
//! window, an inhibiting source alert, or a routing rule (for a while, or until told).
//! Stored in `alerts.suppressed_by` in one text form, which the store's lookups by
//! holder and by prefix rely on.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A maintenance window that was open when the alert came, or opened over it.
    Window(Uuid),
    /// An open alert that inhibits this one (by one of the inhibition rules).
    Inhibitor(Uuid),
    /// A suppressing routing rule; a timed hold carries its end, so the expiry watcher
    /// finds it in the store after a restart.
    Rule {
        rule: Uuid,
        until: Option<DateTime<Utc>>,
    },
}

impl Holder {
    pub const WINDOW_PREFIX: &'static str = "window:";
    pub const INHIBITOR_PREFIX: &'static str = "inhibit:";
    pub const RULE_PREFIX: &'static str = "rule:";
    const UNTIL: &'static str = ":until:";

    /// Reads the stored form back; None for text no holder writes.
    pub fn parse(text: &str) -> Option<Holder> {
        if let Some(id) = text.strip_prefix(Holder::WINDOW_PREFIX) {
            return Uuid::parse_str(id).ok().map(Holder::Window);
        }
        if let Some(id) = text.strip_prefix(Holder::INHIBITOR_PREFIX) {
            return Uuid::parse_str(id).ok().map(Holder::Inhibitor);
        }
        let rest = text.strip_prefix(Holder::RULE_PREFIX)?;
        match rest.split_once(Holder::UNTIL) {
            Some((rule, until)) => Some(Holder::Rule {
                rule: Uuid::parse_str(rule).ok()?,
                until: Some(DateTime::from_timestamp(until.parse().ok()?, 0)?),
            }),
            None => Some(Holder::Rule {
                rule: Uuid::parse_str(rest).ok()?,
                until: None,
            }),
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Window(id) => write!(f, "{}{id}", Holder::WINDOW_PREFIX),
            Holder::Inhibitor(id) => write!(f, "{}{id}", Holder::INHIBITOR_PREFIX),
            Holder::Rule {
                rule,
                until: Some(until),
            } => write!(
                f,
                "{}{rule}{}{}",
                Holder::RULE_PREFIX,
                Holder::UNTIL,
                until.timestamp()
            ),
            Holder::Rule { rule, until: None } => write!(f, "{}{rule}", Holder::RULE_PREFIX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_holder_reads_back_as_written() {
        let id = Uuid::new_v4();
        let until = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        for holder in [
            Holder::Window(id),
            Holder::Inhibitor(id),
            Holder::Rule {
                rule: id,
                until: None,
            },
            Holder::Rule {
                rule: id,
                until: Some(until),
            },
        ] {
            assert_eq!(Holder::parse(&holder.to_string()), Some(holder));
        }
        assert_eq!(
            Holder::Rule {
                rule: id,
                until: Some(until)
            }
            .to_string(),
            format!("rule:{id}:until:1767225600")
        );
        assert_eq!(Holder::Window(id).to_string(), format!("window:{id}"));
        assert_eq!(Holder::Inhibitor(id).to_string(), format!("inhibit:{id}"));
    }

    #[test]
    fn other_text_is_no_holder() {
        assert_eq!(Holder::parse("window:abc"), None);
        assert_eq!(Holder::parse("rule:not-a-uuid:until:5"), None);
        assert_eq!(Holder::parse("someone"), None);
    }
}
