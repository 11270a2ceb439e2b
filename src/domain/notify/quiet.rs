//! Quiet hours: a user's daily window, in their own time zone, during which messages
//! below critical are held and sent when it ends. A window may cross midnight
//! (22:00-07:00).

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// `HH:MM` to `HH:MM`; equal ends are refused (all day or never is not a window).
    pub fn parse(start: &str, end: &str) -> Result<QuietHours, String> {
        let time = |text: &str| {
            NaiveTime::parse_from_str(text.trim(), "%H:%M")
                .map_err(|_| format!("{text:?} is not a time of day as HH:MM"))
        };
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err("start and end must differ".into());
        }
        Ok(QuietHours { start, end })
    }

    pub fn format(&self) -> (String, String) {
        (
            self.start.format("%H:%M").to_string(),
            self.end.format("%H:%M").to_string(),
        )
    }

    /// When the window that holds `now` ends, or None when `now` is outside it.
    pub fn holds_until(&self, zone: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&zone);
        let time = local.time();
        let today = local.date_naive();
        let inside = if self.start < self.end {
            time >= self.start && time < self.end
        } else {
            time >= self.start || time < self.end
        };
        if !inside {
            return None;
        }
        let end_day = if self.start > self.end && time >= self.start {
            today.checked_add_days(Days::new(1))?
        } else {
            today
        };
        let end = end_day.and_time(self.end);
        // An end the clocks skip (spring forward) is taken an hour later, in the new
        // offset; one they pass twice (fall back) ends at its first occurrence.
        let resolved = zone.from_local_datetime(&end).earliest().or_else(|| {
            zone.from_local_datetime(&(end + chrono::Duration::hours(1)))
                .earliest()
        })?;
        Some(resolved.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn an_overnight_window_holds_until_morning_in_the_users_zone() {
        let quiet = QuietHours::parse("22:00", "07:00").unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 23:30 in Berlin (CET, UTC+1): held until 07:00 the next day.
        assert_eq!(
            quiet.holds_until(berlin, utc("2026-11-27T22:30:00Z")),
            Some(utc("2026-11-28T06:00:00Z"))
        );
        // 03:00 in Berlin: held until 07:00 the same day.
        assert_eq!(
            quiet.holds_until(berlin, utc("2026-11-28T02:00:00Z")),
            Some(utc("2026-11-28T06:00:00Z"))
        );
        assert_eq!(quiet.holds_until(berlin, utc("2026-11-28T12:00:00Z")), None);
        assert_eq!(
            quiet.holds_until(berlin, utc("2026-11-28T06:00:00Z")),
            None,
            "the end is outside"
        );
    }

    #[test]
    fn a_daytime_window_and_bad_input() {
        let quiet = QuietHours::parse("12:00", "13:00").unwrap();
        let utc_zone: Tz = "UTC".parse().unwrap();
        assert_eq!(
            quiet.holds_until(utc_zone, utc("2026-11-28T12:30:00Z")),
            Some(utc("2026-11-28T13:00:00Z"))
        );
        assert_eq!(
            quiet.holds_until(utc_zone, utc("2026-11-28T11:59:00Z")),
            None
        );
        assert!(QuietHours::parse("25:00", "07:00").is_err());
        assert!(QuietHours::parse("07:00", "07:00").is_err());
        assert_eq!(quiet.format(), ("12:00".into(), "13:00".into()));
    }

    #[test]
    fn an_end_skipped_by_daylight_saving_ends_at_the_next_valid_instant() {
        // Berlin skips 02:00-03:00 on 2026-03-29.
        let quiet = QuietHours::parse("23:00", "02:30").unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            quiet.holds_until(berlin, utc("2026-03-28T23:30:00Z")),
            Some(utc("2026-03-29T01:30:00Z"))
        );
    }
}
