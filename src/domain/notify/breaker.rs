//! A circuit breaker per provider: after `threshold` failures in a row the provider is
//! left alone for `cooldown`; then one attempt is let through, and a success closes it.
//! The caller passes the time, so the breaker never reads a clock.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    open_until: Option<Instant>,
}

/// What a recorded result changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Transition {
    None,
    /// The provider has just started failing: time to tell someone.
    Opened,
    /// It works again after having been open.
    Recovered,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            failures: 0,
            open_until: None,
        }
    }

    /// Ok if a send may be tried at `now`, else when it may be.
    pub fn permit(&self, now: Instant) -> Result<(), Instant> {
        match self.open_until {
            Some(until) if until > now => Err(until),
            _ => Ok(()),
        }
    }

    pub fn is_open(&self) -> bool {
        self.failures >= self.threshold
    }

    pub fn success(&mut self) -> Transition {
        let was_open = self.is_open();
        self.failures = 0;
        self.open_until = None;
        if was_open {
            Transition::Recovered
        } else {
            Transition::None
        }
    }

    pub fn failure(&mut self, now: Instant) -> Transition {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.threshold {
            self.open_until = Some(now + self.cooldown);
            if self.failures == self.threshold {
                return Transition::Opened;
            }
        }
        Transition::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_half_opens_after_cooldown() {
        let start = Instant::now();
        let mut breaker = Breaker::new(3, Duration::from_secs(30));
        assert_eq!(breaker.failure(start), Transition::None);
        assert_eq!(breaker.failure(start), Transition::None);
        assert!(breaker.permit(start).is_ok());
        assert_eq!(breaker.failure(start), Transition::Opened);
        assert_eq!(breaker.permit(start), Err(start + Duration::from_secs(30)));
        let later = start + Duration::from_secs(31);
        assert!(breaker.permit(later).is_ok());
        assert_eq!(
            breaker.failure(later),
            Transition::None,
            "told once per outage"
        );
        assert!(breaker.permit(later).is_err());
        assert_eq!(breaker.success(), Transition::Recovered);
        assert!(breaker.permit(later).is_ok());
        assert_eq!(breaker.success(), Transition::None);
    }
}
