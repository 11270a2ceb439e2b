//! The channels a message can go out on.

/// A channel: which provider carries the message and what its address means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Webhook,
    Slack,
    Teams,
    Email,
    Sms,
    Voice,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Webhook,
        Channel::Slack,
        Channel::Teams,
        Channel::Email,
        Channel::Sms,
        Channel::Voice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Slack => "slack",
            Channel::Teams => "teams",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }

    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether `address` can be this channel's address; why not otherwise.
    pub fn check_address(self, address: &str) -> Result<(), String> {
        let ok = match self {
            Channel::Webhook | Channel::Teams => {
                address.starts_with("https://") || address.starts_with("http://")
            }
            Channel::Slack => {
                !address.is_empty()
                    && address.len() <= 80
                    && address
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '#')
            }
            Channel::Email => {
                let mut parts = address.splitn(2, '@');
                let local = parts.next().unwrap_or_default();
                let domain = parts.next().unwrap_or_default();
                !local.is_empty()
                    && domain.contains('.')
                    && !address
                        .chars()
                        .any(|c| c.is_whitespace() || c == '<' || c == '>')
            }
            Channel::Sms | Channel::Voice => {
                address.len() >= 8
                    && address.len() <= 16
                    && address.starts_with('+')
                    && address[1..].chars().all(|c| c.is_ascii_digit())
            }
        };
        if ok {
            Ok(())
        } else {
            Err(match self {
                Channel::Webhook | Channel::Teams => "must be an http(s) URL".into(),
                Channel::Slack => "must be a Slack channel or member id such as C0123ABC".into(),
                Channel::Email => "must be an email address".into(),
                Channel::Sms | Channel::Voice => "must be an E.164 number such as +15550100".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_per_channel() {
        assert!(Channel::Slack.check_address("C0123ABC").is_ok());
        assert!(Channel::Slack.check_address("C01 23").is_err());
        assert!(Channel::Email.check_address("erin@example.net").is_ok());
        assert!(Channel::Email.check_address("erin").is_err());
        assert!(Channel::Sms.check_address("+15550100").is_ok());
        assert!(Channel::Sms.check_address("5550100").is_err());
        assert!(
            Channel::Teams
                .check_address("https://example.webhook.office.com/x")
                .is_ok()
        );
        assert!(Channel::Webhook.check_address("ftp://x").is_err());
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
    }
}
