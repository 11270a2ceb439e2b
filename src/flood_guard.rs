//! The per-integration-key flood guard: off by default; when a rate is set, a key that
//! sends more alerts per second than that is told to retry later.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

pub struct FloodGuard {
    limiter: Option<(DefaultKeyedRateLimiter<Uuid>, NonZeroU32)>,
    clock: DefaultClock,
}

impl FloodGuard {
    /// `per_second` = 0 turns the guard off.
    pub fn new(per_second: u32) -> FloodGuard {
        let limiter = NonZeroU32::new(per_second)
            .map(|rate| (RateLimiter::keyed(Quota::per_second(rate)), rate));
        FloodGuard {
            limiter,
            clock: DefaultClock::default(),
        }
    }

    /// Takes `alerts` from the key's allowance, or says how long to wait.
    /// A batch larger than one second's allowance takes the whole allowance, so a big
    /// but rare batch is slowed, never refused forever.
    pub fn check(&self, key_id: Uuid, alerts: usize) -> Result<(), Duration> {
        let Some((limiter, rate)) = &self.limiter else {
            return Ok(());
        };
        let wanted =
            NonZeroU32::new(alerts.min(rate.get() as usize) as u32).unwrap_or(NonZeroU32::MIN);
        match limiter.check_key_n(&key_id, wanted) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // `wanted` never exceeds the burst, so this is not reached; refuse briefly.
            Err(_) => Err(Duration::from_secs(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_limits_when_set() {
        let off = FloodGuard::new(0);
        let key = Uuid::new_v4();
        for _ in 0..1000 {
            assert!(off.check(key, 100).is_ok());
        }
        let on = FloodGuard::new(10);
        assert!(on.check(key, 10).is_ok());
        let wait = on.check(key, 1).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(
            on.check(Uuid::new_v4(), 500).is_ok(),
            "keys are independent"
        );
    }
}
