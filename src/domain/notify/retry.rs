//! When to try a failed send again: exponential backoff with jitter, at least what the
//! provider's Retry-After asked for, and a limit on attempts.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure, before jitter.
    pub base: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_attempts: 6,
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after `attempts` have failed, or None when
    /// they are used up. `jitter` in [0, 1] spreads retries so destinations do not see
    /// them in lockstep: the wait falls between half and all of the backoff.
    pub fn delay(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exponent = attempts.saturating_sub(1).min(20);
        let backoff = self
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let jittered = backoff.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(Duration::from_secs(3600))),
            None => jittered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_within_jitter() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, None, 1.0), Some(Duration::from_secs(1)));
        assert_eq!(policy.delay(1, None, 0.0), Some(Duration::from_millis(500)));
        assert_eq!(policy.delay(3, None, 1.0), Some(Duration::from_secs(4)));
        let capped = RetryPolicy {
            max_attempts: 100,
            ..policy
        };
        assert_eq!(capped.delay(30, None, 1.0), Some(Duration::from_secs(60)));
    }

    #[test]
    fn honours_retry_after_and_gives_up() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7)), 0.5),
            Some(Duration::from_secs(7))
        );
        assert_eq!(policy.delay(6, None, 0.5), None);
    }
}
