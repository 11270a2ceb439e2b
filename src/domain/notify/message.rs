//! What a message is about and how urgent it is.

use uuid::Uuid;

/// What kind of message it is; the kind sets its place in a busy destination's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A contact method's verification code.
    Verification,
    /// A page about an alert to a person, or an alert posted to a channel by a rule.
    Page,
    /// A status update: a handoff, an aggregated group, an alert's later state.
    Status,
    /// Several waiting messages in one.
    Digest,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Verification => "verification",
            Kind::Page => "page",
            Kind::Status => "status",
            Kind::Digest => "digest",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Verification, Kind::Page, Kind::Status, Kind::Digest]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// The order a busy destination sends in (DOMAIN.md, ordering under pressure):
/// verification codes, pages for an alert that is the first of its service, other
/// pages, status updates, digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Verification,
    FirstPage,
    Page,
    Status,
    Digest,
}

impl Class {
    pub fn of(kind: Kind, first_of_service: bool) -> Class {
        match kind {
            Kind::Verification => Class::Verification,
            Kind::Page if first_of_service => Class::FirstPage,
            Kind::Page => Class::Page,
            Kind::Status => Class::Status,
            Kind::Digest => Class::Digest,
        }
    }

    pub fn is_page(self) -> bool {
        matches!(self, Class::FirstPage | Class::Page)
    }
}

/// How urgent a message is to its recipient: critical goes through quiet hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

impl Priority {
    pub fn as_i32(self) -> i32 {
        match self {
            Priority::Low => 1,
            Priority::Normal => 2,
            Priority::High => 3,
            Priority::Critical => 4,
        }
    }

    pub fn from_i32(value: i32) -> Option<Priority> {
        match value {
            1 => Some(Priority::Low),
            2 => Some(Priority::Normal),
            3 => Some(Priority::High),
            4 => Some(Priority::Critical),
            _ => None,
        }
    }
}

/// An alert as a message lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRef {
    pub id: Uuid,
    pub number: i64,
    pub summary: String,
    pub severity: String,
    /// The site enrichment found, or empty.
    pub site: String,
    pub service_id: Uuid,
}
