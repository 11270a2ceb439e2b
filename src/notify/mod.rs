//! Outbound notifications. For now the generic webhook, which routing's `notify_webhook`
//! and webhook-channel actions use; the providers (Slack, Teams, email, SMS, voice) and
//! rate-limited delivery actors come with the notification capability.

pub mod webhook;
