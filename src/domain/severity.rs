//! Alert severity and the mapping from the free-form `severity` labels senders use.

use std::fmt;

/// Ordered from least to most urgent, so `Ord` compares urgency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Maps what senders write (`page`, `p2`, `warning`, ...) to a severity.
    /// Unknown or empty values are medium: the raw value stays in the labels, so nothing
    /// the sender said is lost.
    pub fn from_label(raw: &str) -> Severity {
        match raw.trim().to_ascii_lowercase().as_str() {
            "critical" | "page" | "p1" | "disaster" => Severity::Critical,
            "error" | "high" | "major" | "p2" => Severity::High,
            "warning" | "medium" | "minor" | "p3" => Severity::Medium,
            "low" | "p4" => Severity::Low,
            "info" | "informational" | "p5" | "none" => Severity::Info,
            _ => Severity::Medium,
        }
    }

    /// The canonical lowercase name, as stored and as CEL sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a canonical name exactly; `None` for anything else.
    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// 5 for critical down to 1 for info.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Info => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_documented_alias() {
        for (raw, want) in [
            ("critical", Severity::Critical),
            ("PAGE", Severity::Critical),
            ("p1", Severity::Critical),
            ("disaster", Severity::Critical),
            ("error", Severity::High),
            ("major", Severity::High),
            ("p2", Severity::High),
            ("warning", Severity::Medium),
            ("minor", Severity::Medium),
            ("p3", Severity::Medium),
            ("low", Severity::Low),
            ("p4", Severity::Low),
            ("informational", Severity::Info),
            ("p5", Severity::Info),
            ("none", Severity::Info),
            ("", Severity::Medium),
            ("sev-banana", Severity::Medium),
        ] {
            assert_eq!(Severity::from_label(raw), want, "{raw}");
        }
    }

    #[test]
    fn ranks_and_names_round_trip() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert!(Severity::Critical > Severity::High);
        assert_eq!(Severity::Critical.rank(), 5);
        assert_eq!(Severity::Info.rank(), 1);
        assert_eq!(Severity::parse("Critical"), None);
    }
}
