//! The one clock the shell reads wall time from. In production it is the system's
//! clock. A test that runs the server in-process under a paused tokio clock calls
//! [`follow_tokio_time`] first: from then on wall time is the wall time at that call
//! plus tokio's elapsed time, so `tokio::time::advance` moves every deadline the engine
//! computes from wall time (escalation steps, SLAs, ack timeouts, handoffs) together
//! with the timers that wait for them. The domain never reads a clock: it is given
//! `now`.
//!
//! The anchor is process-wide: nextest runs each test in a process of its own.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

static ANCHOR: OnceLock<(DateTime<Utc>, tokio::time::Instant)> = OnceLock::new();

/// Wall time now.
pub fn now() -> DateTime<Utc> {
    match ANCHOR.get() {
        None => Utc::now(),
        Some((wall, instant)) => {
            let elapsed = tokio::time::Instant::now().saturating_duration_since(*instant);
            *wall + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
        }
    }
}

/// For tests: wall time follows tokio's clock from now on (see the module docs). Call it
/// inside the runtime, after pausing its clock.
pub fn follow_tokio_time() {
    let _ = ANCHOR.set((Utc::now(), tokio::time::Instant::now()));
}
