//! Route-flap dampening for one peer (DOMAIN.md, Enrichment): the first flap notifies at
//! once; later flaps within the next window (a minute) are held and summarised in one
//! notification when it ends, and so on window by window while flaps keep coming. More
//! than 10 flaps in a window mark the peer flapping until it has been quiet for 10
//! minutes. Time is passed in; the actor that owns this sets the timers.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// Flaps in one window beyond which the peer is flapping.
pub const FLAPPING_AFTER: u32 = 10;
/// How long a flapping peer must be quiet before it is no longer flapping.
pub const QUIET_FOR: Duration = Duration::minutes(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlapVerdict {
    /// Notify now, as for any alert.
    Notify,
    /// Held for the summary at the end of the window.
    Hold,
}

/// The one notification for the flaps a window held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlapSummary {
    pub held: u32,
    /// The alert whose routing carries the summary.
    pub first_held: Uuid,
    pub flapping: bool,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PeerFlaps {
    window: Duration,
    /// The end of the open window; `None` when none is open.
    window_end: Option<DateTime<Utc>>,
    flaps: u32,
    held: u32,
    first_held: Option<Uuid>,
    flapping_until: Option<DateTime<Utc>>,
}

impl PeerFlaps {
    pub fn new(window: Duration) -> PeerFlaps {
        PeerFlaps {
            window,
            window_end: None,
            flaps: 0,
            held: 0,
            first_held: None,
            flapping_until: None,
        }
    }

    /// A flap alert for this peer at `now`.
    pub fn observe(&mut self, alert: Uuid, now: DateTime<Utc>) -> FlapVerdict {
        if self.is_flapping(now) {
            self.flapping_until = Some(now + QUIET_FOR);
        }
        match self.window_end {
            Some(end) if now < end => {
                self.flaps += 1;
                self.held += 1;
                self.first_held.get_or_insert(alert);
                if self.flaps > FLAPPING_AFTER {
                    self.flapping_until = Some(now + QUIET_FOR);
                }
                FlapVerdict::Hold
            }
            _ => {
                self.window_end = Some(now + self.window);
                self.flaps = 1;
                self.held = 0;
                self.first_held = None;
                FlapVerdict::Notify
            }
        }
    }

    /// When the open window ends: the time to call [`PeerFlaps::close_window`].
    pub fn window_end(&self) -> Option<DateTime<Utc>> {
        self.window_end
    }

    /// Ends the window due at or before `now`: the summary of what it held, and the
    /// next window opens at once; a window that held nothing closes, so the next flap
    /// notifies at once again.
    pub fn close_window(&mut self, now: DateTime<Utc>) -> Option<FlapSummary> {
        let end = self.window_end.filter(|end| *end <= now)?;
        let Some(first_held) = self.first_held.take() else {
            self.window_end = None;
            self.flaps = 0;
            return None;
        };
        let summary = FlapSummary {
            held: self.held,
            first_held,
            flapping: self.is_flapping(now),
            window_start: end - self.window,
            window_end: end,
        };
        self.window_end = Some(end + self.window);
        self.flaps = 0;
        self.held = 0;
        Some(summary)
    }

    pub fn is_flapping(&self, now: DateTime<Utc>) -> bool {
        self.flapping_until.is_some_and(|until| now < until)
    }

    /// Nothing open and not flapping: the peer's state can be forgotten.
    pub fn is_idle(&self, now: DateTime<Utc>) -> bool {
        self.window_end.is_none() && !self.is_flapping(now)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    fn ids(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_hundred_flaps_in_thirty_seconds_make_two_notifications() {
        let mut peer = PeerFlaps::new(Duration::minutes(1));
        let mut notified = 0;
        for i in 0..100 {
            // 100 flaps spread over 30 s.
            if peer.observe(ids(i), at(i as i64 * 3 / 10)) == FlapVerdict::Notify {
                notified += 1;
            }
        }
        assert_eq!(notified, 1);
        assert_eq!(peer.window_end(), Some(at(60)));
        assert_eq!(peer.close_window(at(59)), None, "not due yet");
        let summary = peer.close_window(at(60)).expect("a summary");
        assert_eq!(summary.held, 99);
        assert_eq!(summary.first_held, ids(1));
        assert!(summary.flapping);
        assert_eq!((summary.window_start, summary.window_end), (at(0), at(60)));
        // The next window holds nothing and closes silently.
        assert_eq!(peer.window_end(), Some(at(120)));
        assert_eq!(peer.close_window(at(120)), None);
        assert_eq!(peer.window_end(), None);
    }

    #[test]
    fn flaps_go_on_window_by_window_and_a_quiet_window_resets() {
        let mut peer = PeerFlaps::new(Duration::minutes(1));
        assert_eq!(peer.observe(ids(1), at(0)), FlapVerdict::Notify);
        assert_eq!(peer.observe(ids(2), at(10)), FlapVerdict::Hold);
        let first = peer.close_window(at(60)).expect("summary");
        assert_eq!(
            (first.held, first.first_held, first.flapping),
            (1, ids(2), false)
        );
        // The next minute goes on holding.
        assert_eq!(peer.observe(ids(3), at(70)), FlapVerdict::Hold);
        assert_eq!(peer.observe(ids(4), at(80)), FlapVerdict::Hold);
        let second = peer.close_window(at(120)).expect("summary");
        assert_eq!((second.held, second.first_held), (2, ids(3)));
        // A quiet minute closes the run; the next flap notifies at once.
        assert_eq!(peer.close_window(at(180)), None);
        assert!(peer.is_idle(at(180)));
        assert_eq!(peer.observe(ids(5), at(200)), FlapVerdict::Notify);
    }

    #[test]
    fn more_than_ten_in_a_window_is_flapping_until_ten_quiet_minutes() {
        let mut peer = PeerFlaps::new(Duration::minutes(1));
        for i in 0..10 {
            peer.observe(ids(i), at(i as i64));
        }
        assert!(!peer.is_flapping(at(10)), "ten flaps are not more than ten");
        peer.observe(ids(10), at(10));
        assert!(peer.is_flapping(at(10)));
        assert!(peer.close_window(at(60)).expect("summary").flapping);
        // Still flapping 9 minutes after the last flap; a flap then extends it.
        assert!(peer.is_flapping(at(10 + 9 * 60)));
        peer.observe(ids(11), at(10 + 9 * 60));
        assert!(peer.is_flapping(at(10 + 18 * 60)));
        assert!(!peer.is_flapping(at(10 + 19 * 60)));
    }
}
