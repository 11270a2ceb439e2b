//! Users of the built-in directory and their API tokens.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::notify::quiet::QuietHours;

use super::access::Role;

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    /// IANA zone name, checked when the user is created.
    pub timezone: String,
    /// Below-critical messages wait while these hold, in `timezone`.
    pub quiet_hours: Option<QuietHours>,
    pub created_at: DateTime<Utc>,
}

/// An API token as stored: only the hash of the secret is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub role: Role,
    /// SHA-256 of the plaintext token, hex.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// How a contact method reaches its user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactKind {
    Email,
    Sms,
    Voice,
    Slack,
    Teams,
    Push,
    Webhook,
}

impl ContactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Email => "email",
            ContactKind::Sms => "sms",
            ContactKind::Voice => "voice",
            ContactKind::Slack => "slack",
            ContactKind::Teams => "teams",
            ContactKind::Push => "push",
            ContactKind::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<ContactKind> {
        [
            ContactKind::Email,
            ContactKind::Sms,
            ContactKind::Voice,
            ContactKind::Slack,
            ContactKind::Teams,
            ContactKind::Push,
            ContactKind::Webhook,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }

    /// Checks an address has the shape this kind needs; says why not.
    pub fn check_address(self, address: &str) -> Result<(), &'static str> {
        let ok = match self {
            ContactKind::Email => address
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.')),
            ContactKind::Sms | ContactKind::Voice => address.strip_prefix('+').is_some_and(|d| {
                (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
            }),
            ContactKind::Slack => {
                address.len() >= 7
                    && (address.starts_with('U') || address.starts_with('W'))
                    && address
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }
            ContactKind::Teams => Uuid::parse_str(address).is_ok(),
            ContactKind::Push => {
                (16..=4096).contains(&address.len())
                    && address.bytes().all(|b| b.is_ascii_graphic())
            }
            ContactKind::Webhook => {
                address.starts_with("http://") || address.starts_with("https://")
            }
        };
        if ok {
            Ok(())
        } else {
            Err(match self {
                ContactKind::Email => "not an email address",
                ContactKind::Sms | ContactKind::Voice => {
                    "not an E.164 number (+ and 8 to 15 digits)"
                }
                ContactKind::Slack => "not a Slack member id (U or W then capitals and digits)",
                ContactKind::Teams => "not a Microsoft Teams (Entra) user id",
                ContactKind::Push => "not a push device token (16 to 4096 printable characters)",
                ContactKind::Webhook => "not an http(s) URL",
            })
        }
    }
}

/// A way to reach a user. It is used for pages only once verified: the user proves
/// they receive on it by sending back the code it was sent.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactMethod {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: ContactKind,
    pub address: String,
    pub verified: bool,
    /// SHA-256 of the verification code, hex; cleared once verified.
    pub code_hash: Option<String>,
    /// Whether the code went out, and where or why not.
    pub code_sent: bool,
    pub code_detail: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_for_their_kind() {
        let good = [
            (ContactKind::Email, "erin@example.net"),
            (ContactKind::Sms, "+14155550100"),
            (ContactKind::Voice, "+442071838750"),
            (ContactKind::Slack, "U024BE7LH"),
            (ContactKind::Teams, "6b4c7f5e-2f0a-4a8e-9c5d-1f2e3a4b5c6d"),
            (ContactKind::Push, "fcm:dGhpc2lzYXRva2Vu"),
            (ContactKind::Webhook, "https://hooks.example.net/x"),
        ];
        for (kind, address) in good {
            assert_eq!(kind.check_address(address), Ok(()), "{address}");
        }
        let bad = [
            (ContactKind::Email, "erin"),
            (ContactKind::Sms, "4155550100"),
            (ContactKind::Voice, "+1-415"),
            (ContactKind::Slack, "#noc"),
            (ContactKind::Teams, "erin"),
            (ContactKind::Push, "short"),
            (ContactKind::Webhook, "ftp://x"),
        ];
        for (kind, address) in bad {
            assert!(kind.check_address(address).is_err(), "{address}");
        }
        assert_eq!(ContactKind::parse("sms"), Some(ContactKind::Sms));
        assert_eq!(ContactKind::parse("fax"), None);
    }
}
