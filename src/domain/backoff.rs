//! How long to wait before trying work again after the store failed it: exponential from
//! `base`, capped at `max`, never giving up. Work that must eventually happen (a shard's
//! restart, an escalation step) uses this instead of a retry limit.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// 200 ms, doubling, at most 30 s: a database that blinks is back within a few
    /// tries; one that is away long is asked twice a minute.
    pub const STORE: Backoff = Backoff {
        base: Duration::from_millis(200),
        max: Duration::from_secs(30),
    };

    /// The wait after `failures` failures in a row (the first failure waits `base`).
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        self.base.saturating_mul(1u32 << exponent).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_never_gives_up() {
        let backoff = Backoff::STORE;
        assert_eq!(backoff.delay(0), Duration::from_millis(200));
        assert_eq!(backoff.delay(1), Duration::from_millis(200));
        assert_eq!(backoff.delay(2), Duration::from_millis(400));
        assert_eq!(backoff.delay(5), Duration::from_millis(3_200));
        assert_eq!(backoff.delay(9), Duration::from_secs(30));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(30));
    }
}
