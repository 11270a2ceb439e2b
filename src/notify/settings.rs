//! The `[notify]` settings: providers, rate limits per destination, retries, the
//! circuit breaker and the fallback destination. Secrets may be given inline, by
//! environment variable (`name_env`) or by file (`name_file`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::notify::channel::Channel;
use crate::domain::notify::retry::RetryPolicy;
use crate::secret::secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// Attempts per message, the first included.
    pub max_attempts: Option<u32>,
    /// First retry wait in milliseconds (doubling, with jitter, up to a minute).
    pub retry_base_ms: Option<u64>,
    /// Failures in a row that open a provider's circuit breaker.
    pub breaker_failures: Option<u32>,
    /// Seconds an open breaker waits before trying again.
    pub breaker_cooldown_seconds: Option<u64>,
    /// Seconds a destination's delivery actor stays with nothing to send (default 600).
    pub idle_actor_seconds: Option<u64>,
    /// Where to say that a provider keeps failing: a channel name and an address.
    pub fallback_channel: Option<String>,
    pub fallback_address: Option<String>,
    #[serde(default)]
    pub slack: SlackSection,
    #[serde(default)]
    pub teams: TeamsSection,
    #[serde(default)]
    pub smtp: SmtpSection,
    #[serde(default)]
    pub twilio: TwilioSection,
    #[serde(default)]
    pub webhook: WebhookSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    pub api_base_url: Option<String>,
    pub bot_token: Option<String>,
    pub bot_token_env: Option<String>,
    pub bot_token_file: Option<PathBuf>,
    pub signing_secret: Option<String>,
    pub signing_secret_env: Option<String>,
    pub signing_secret_file: Option<PathBuf>,
    pub per_channel_per_second: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSection {
    pub per_webhook_per_second: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub starttls: Option<bool>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: Option<String>,
    pub per_address_per_second: Option<u32>,
    /// A PEM file of CA certificates to trust for STARTTLS (a relay with a private CA).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSection {
    pub api_base_url: Option<String>,
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
    pub auth_token_env: Option<String>,
    pub auth_token_file: Option<PathBuf>,
    pub from_number: Option<String>,
    pub per_number_per_second: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub signing_secret: Option<String>,
    pub signing_secret_env: Option<String>,
    pub signing_secret_file: Option<PathBuf>,
    pub per_url_per_second: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct SlackSettings {
    pub api_base_url: String,
    pub bot_token: String,
    pub signing_secret: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub starttls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    /// Extra CA certificates (PEM) trusted for STARTTLS.
    pub ca_pem: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
pub struct TwilioSettings {
    pub api_base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from_number: String,
}

/// Validated notification settings.
#[derive(Clone, Debug)]
pub struct NotifySettings {
    pub retry: RetryPolicy,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    pub fallback: Option<(Channel, String)>,
    pub slack: Option<SlackSettings>,
    pub smtp: Option<SmtpSettings>,
    pub twilio: Option<TwilioSettings>,
    pub webhook_signing_secret: Option<String>,
    /// Messages per second to one destination, per channel.
    pub rates: Rates,
    /// How long a destination's actor stays with nothing to send.
    pub idle_after: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    pub slack_per_channel: u32,
    pub teams_per_webhook: u32,
    pub email_per_address: u32,
    pub twilio_per_number: u32,
    pub webhook_per_url: u32,
}

impl Rates {
    pub fn of(&self, channel: Channel) -> u32 {
        match channel {
            Channel::Slack => self.slack_per_channel,
            Channel::Teams => self.teams_per_webhook,
            Channel::Email => self.email_per_address,
            Channel::Sms | Channel::Voice => self.twilio_per_number,
            Channel::Webhook => self.webhook_per_url,
        }
    }
}

impl Default for NotifySettings {
    fn default() -> NotifySettings {
        NotifySettings::resolve(&NotifySection::default(), &mut Vec::new())
    }
}

fn rate(name: &str, value: Option<u32>, default: u32, problems: &mut Vec<String>) -> u32 {
    let value = value.unwrap_or(default);
    if value == 0 || value > 10_000 {
        problems.push(format!("{name}: must be between 1 and 10000"));
        return default;
    }
    value
}

fn url(name: &str, value: Option<&String>, default: &str, problems: &mut Vec<String>) -> String {
    let value = value.map_or(default, String::as_str).trim_end_matches('/');
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        problems.push(format!("{name}: must be an http(s) URL"));
    }
    value.to_string()
}

impl NotifySettings {
    pub fn resolve(section: &NotifySection, problems: &mut Vec<String>) -> NotifySettings {
        let defaults = RetryPolicy::default();
        let retry = RetryPolicy {
            base: section
                .retry_base_ms
                .map_or(defaults.base, Duration::from_millis),
            max_delay: defaults.max_delay,
            max_attempts: section.max_attempts.unwrap_or(defaults.max_attempts),
        };
        if !(1..=20).contains(&retry.max_attempts) {
            problems.push("notify.max_attempts: must be between 1 and 20".into());
        }
        if retry.base.is_zero() || retry.base > Duration::from_secs(60) {
            problems.push("notify.retry_base_ms: must be between 1 and 60000".into());
        }
        let fallback = match (&section.fallback_channel, &section.fallback_address) {
            (None, None) => None,
            (Some(channel), Some(address)) => match Channel::parse(channel) {
                Some(parsed) => match parsed.check_address(address) {
                    Ok(()) => Some((parsed, address.clone())),
                    Err(why) => {
                        problems.push(format!("notify.fallback_address: {why}"));
                        None
                    }
                },
                None => {
                    problems.push(format!(
                        "notify.fallback_channel: {channel:?} is not one of webhook, slack, teams, email, sms, voice"
                    ));
                    None
                }
            },
            _ => {
                problems
                    .push("notify.fallback_channel and notify.fallback_address go together".into());
                None
            }
        };
        let s = &section.slack;
        let bot_token = secret(
            "notify.slack.bot_token",
            &s.bot_token,
            &s.bot_token_env,
            &s.bot_token_file,
            problems,
        );
        let signing_secret = secret(
            "notify.slack.signing_secret",
            &s.signing_secret,
            &s.signing_secret_env,
            &s.signing_secret_file,
            problems,
        );
        let slack_url = url(
            "notify.slack.api_base_url",
            s.api_base_url.as_ref(),
            "https://slack.com/api",
            problems,
        );
        let slack = bot_token.map(|bot_token| SlackSettings {
            api_base_url: slack_url,
            bot_token,
            signing_secret,
        });
        let m = &section.smtp;
        let password = secret(
            "notify.smtp.password",
            &m.password,
            &m.password_env,
            &m.password_file,
            problems,
        );
        let ca_pem = m
            .ca_file
            .as_ref()
            .and_then(|path| match std::fs::read(path) {
                Ok(pem) => Some(pem),
                Err(e) => {
                    problems.push(format!("notify.smtp.ca_file: {}: {e}", path.display()));
                    None
                }
            });
        let smtp = match (&m.host, &m.from) {
            (Some(host), Some(from)) => Some(SmtpSettings {
                host: host.clone(),
                port: m.port.unwrap_or(587),
                starttls: m.starttls.unwrap_or(true),
                username: m.username.clone(),
                password,
                from: from.clone(),
                ca_pem,
            }),
            (None, None) => None,
            _ => {
                problems.push("notify.smtp: host and from are both required".into());
                None
            }
        };
        if let Some(smtp) = &smtp
            && Channel::Email.check_address(&smtp.from).is_err()
            && !smtp.from.contains('<')
        {
            problems.push("notify.smtp.from: must be an email address".into());
        }
        let t = &section.twilio;
        let auth_token = secret(
            "notify.twilio.auth_token",
            &t.auth_token,
            &t.auth_token_env,
            &t.auth_token_file,
            problems,
        );
        let twilio_url = url(
            "notify.twilio.api_base_url",
            t.api_base_url.as_ref(),
            "https://api.twilio.com",
            problems,
        );
        let twilio = match (&t.account_sid, auth_token, &t.from_number) {
            (Some(sid), Some(token), Some(from)) => Some(TwilioSettings {
                api_base_url: twilio_url,
                account_sid: sid.clone(),
                auth_token: token,
                from_number: from.clone(),
            }),
            (None, None, None) => None,
            _ => {
                problems.push(
                    "notify.twilio: account_sid, auth_token and from_number are all required"
                        .into(),
                );
                None
            }
        };
        let w = &section.webhook;
        let webhook_signing_secret = secret(
            "notify.webhook.signing_secret",
            &w.signing_secret,
            &w.signing_secret_env,
            &w.signing_secret_file,
            problems,
        );
        let rates = Rates {
            slack_per_channel: rate(
                "notify.slack.per_channel_per_second",
                s.per_channel_per_second,
                1,
                problems,
            ),
            teams_per_webhook: rate(
                "notify.teams.per_webhook_per_second",
                section.teams.per_webhook_per_second,
                1,
                problems,
            ),
            email_per_address: rate(
                "notify.smtp.per_address_per_second",
                m.per_address_per_second,
                1,
                problems,
            ),
            twilio_per_number: rate(
                "notify.twilio.per_number_per_second",
                t.per_number_per_second,
                1,
                problems,
            ),
            webhook_per_url: rate(
                "notify.webhook.per_url_per_second",
                w.per_url_per_second,
                10,
                problems,
            ),
        };
        let breaker_failures = section.breaker_failures.unwrap_or(5);
        if breaker_failures == 0 {
            problems.push("notify.breaker_failures: must be at least 1".into());
        }
        NotifySettings {
            retry,
            breaker_failures: breaker_failures.max(1),
            breaker_cooldown: Duration::from_secs(section.breaker_cooldown_seconds.unwrap_or(30)),
            fallback,
            slack,
            smtp,
            twilio,
            webhook_signing_secret,
            rates,
            idle_after: Duration::from_secs(section.idle_actor_seconds.unwrap_or(600).max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_need_their_settings_together() {
        let section: NotifySection = toml::from_str(
            r#"
            fallback_channel = "email"
            fallback_address = "noc@example.net"
            [slack]
            bot_token = "xoxb-1"
            api_base_url = "http://127.0.0.1:9/api/"
            [twilio]
            account_sid = "AC1"
            [smtp]
            host = "smtp.example.net"
            from = "oncall@example.net"
            "#,
        )
        .unwrap();
        let mut problems = Vec::new();
        let settings = NotifySettings::resolve(&section, &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("notify.twilio"));
        let slack = settings.slack.unwrap();
        assert_eq!(slack.api_base_url, "http://127.0.0.1:9/api");
        assert_eq!(settings.smtp.unwrap().port, 587);
        assert_eq!(
            settings.fallback,
            Some((Channel::Email, "noc@example.net".into()))
        );
        assert_eq!(settings.rates.of(Channel::Slack), 1);
        assert_eq!(settings.rates.of(Channel::Webhook), 10);
    }

    #[test]
    fn bad_values_are_named() {
        let section: NotifySection = toml::from_str(
            r#"
            max_attempts = 0
            fallback_channel = "pager"
            fallback_address = "x"
            [slack]
            per_channel_per_second = 0
            "#,
        )
        .unwrap();
        let mut problems = Vec::new();
        NotifySettings::resolve(&section, &mut problems);
        let text = problems.join("\n");
        assert!(text.contains("notify.max_attempts"), "{text}");
        assert!(text.contains("notify.fallback_channel"), "{text}");
        assert!(
            text.contains("notify.slack.per_channel_per_second"),
            "{text}"
        );
    }
}
