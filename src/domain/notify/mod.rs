//! Notifications, pure: channels, the template sandbox, per-channel formatting, the
//! pending queue of one destination (priorities, merging, digests), retry timing and
//! the circuit breaker. The delivery actors and providers carry these out.

pub mod breaker;
pub mod channel;
pub mod context;
pub mod definition;
pub mod digest;
pub mod format;
pub mod message;
pub mod queue;
pub mod quiet;
pub mod retry;
pub mod sms;
pub mod template;
