//! Outbound notifications: providers speaking each service's wire format (Slack, Teams,
//! email, Twilio SMS and voice, signed webhooks), their settings, and the notifier that
//! renders messages and hands them to the per-destination delivery actors.

pub mod delivery;
pub mod email;
pub mod log;
pub mod notifier;
pub mod outgoing;
pub mod provider;
pub mod settings;
pub mod slack;
pub mod teams;
pub mod twilio;
pub mod webhook;
