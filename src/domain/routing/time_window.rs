//! Time conditions: windows of wall-clock time on given days in a real time zone.
//! 08:00 local is 08:00 local on both sides of a DST change, because the instant is
//! converted to local time before it is compared.

use chrono::{DateTime, Datelike, NaiveTime, Utc};
use chrono_tz::Tz;

/// Days 0 = Sunday … 6 = Saturday; `start`..`end` local. An end at or before the start
/// crosses midnight, and the window belongs to the day it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeWindow {
    pub days: Vec<u8>,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TimeCondition {
    pub zone: Tz,
    pub windows: Vec<TimeWindow>,
    pub invert: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct TimeConditionError {
    pub field: String,
    pub reason: String,
}

/// Whether the condition held, and why, for the audit log and TestRoutingRule.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeResult {
    pub matched: bool,
    pub reason: String,
}

impl TimeCondition {
    /// Checks a condition as written: an IANA zone, `HH:MM` times, days 0 to 6.
    pub fn parse(
        zone: &str,
        windows: &[(Vec<u8>, String, String)],
        invert: bool,
    ) -> Result<TimeCondition, TimeConditionError> {
        let problem = |field: String, reason: String| TimeConditionError { field, reason };
        let zone: Tz = zone
            .parse()
            .map_err(|_| problem("timezone".into(), format!("not an IANA zone: {zone:?}")))?;
        if windows.is_empty() {
            return Err(problem("windows".into(), "give at least one window".into()));
        }
        let mut parsed = Vec::with_capacity(windows.len());
        for (i, (days, start, end)) in windows.iter().enumerate() {
            let time = |name: &str, text: &str| {
                NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| {
                    problem(
                        format!("windows[{i}].{name}"),
                        format!("{text:?} is not HH:MM"),
                    )
                })
            };
            if days.is_empty() || days.iter().any(|d| *d > 6) {
                return Err(problem(
                    format!("windows[{i}].days_of_week"),
                    "days are 0 (Sunday) to 6 (Saturday), at least one".into(),
                ));
            }
            parsed.push(TimeWindow {
                days: days.clone(),
                start: time("start_time", start)?,
                end: time("end_time", end)?,
            });
        }
        Ok(TimeCondition {
            zone,
            windows: parsed,
            invert,
        })
    }

    /// Whether the condition holds at `now`, without the explanation.
    pub fn holds(&self, now: DateTime<Utc>) -> bool {
        self.window_at(now).is_some() != self.invert
    }

    /// Which window `now` falls in, if any.
    fn window_at(&self, now: DateTime<Utc>) -> Option<usize> {
        let local = now.with_timezone(&self.zone);
        let today = local.weekday().num_days_from_sunday() as u8;
        let yesterday = (today + 6) % 7;
        let time = local.time();
        self.windows.iter().position(|w| {
            if w.start < w.end {
                w.days.contains(&today) && w.start <= time && time < w.end
            } else {
                (w.days.contains(&today) && time >= w.start)
                    || (w.days.contains(&yesterday) && time < w.end)
            }
        })
    }

    pub fn evaluate(&self, now: DateTime<Utc>) -> TimeResult {
        let inside = self.window_at(now);
        let matched = inside.is_some() != self.invert;
        let at = now.with_timezone(&self.zone).format("%a %H:%M %Z");
        let reason = match (inside, self.invert) {
            (Some(i), false) => format!("{at} is inside window {i}"),
            (Some(i), true) => format!("{at} is inside window {i}, and the condition is inverted"),
            (None, false) => format!("{at} is outside every window"),
            (None, true) => format!("{at} is outside every window, and the condition is inverted"),
        };
        TimeResult { matched, reason }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn weekdays_8_to_18(zone: &str) -> TimeCondition {
        TimeCondition::parse(
            zone,
            &[(vec![1, 2, 3, 4, 5], "08:00".into(), "18:00".into())],
            false,
        )
        .unwrap()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn business_hours_in_a_zone() {
        let london = weekdays_8_to_18("Europe/London");
        // Friday 27 November 2026 (GMT = UTC in winter).
        assert!(london.evaluate(utc(2026, 11, 27, 8, 0)).matched);
        assert!(london.evaluate(utc(2026, 11, 27, 17, 59)).matched);
        assert!(
            !london.evaluate(utc(2026, 11, 27, 18, 0)).matched,
            "end is exclusive"
        );
        assert!(
            !london.evaluate(utc(2026, 11, 28, 12, 0)).matched,
            "Saturday"
        );
        let new_york = weekdays_8_to_18("America/New_York");
        assert!(
            !new_york.evaluate(utc(2026, 11, 27, 12, 0)).matched,
            "07:00 in New York"
        );
        assert!(new_york.evaluate(utc(2026, 11, 27, 13, 0)).matched);
    }

    #[test]
    fn wall_clock_holds_across_dst() {
        let london = weekdays_8_to_18("Europe/London");
        // Summer time: 08:00 BST is 07:00 UTC, on Monday 29 June 2026.
        assert!(london.evaluate(utc(2026, 6, 29, 7, 0)).matched);
        assert!(!london.evaluate(utc(2026, 6, 29, 6, 59)).matched);
        // Monday 30 March 2026, the day after the change: still 08:00 local.
        assert!(london.evaluate(utc(2026, 3, 30, 7, 0)).matched);
        // Monday 26 October 2026, the day after the change back: 08:00 is 08:00 UTC.
        assert!(!london.evaluate(utc(2026, 10, 26, 7, 30)).matched);
        assert!(london.evaluate(utc(2026, 10, 26, 8, 0)).matched);
    }

    #[test]
    fn windows_cross_midnight_and_belong_to_their_first_day() {
        let nights =
            TimeCondition::parse("UTC", &[(vec![5], "22:00".into(), "06:00".into())], false)
                .unwrap();
        assert!(
            nights.evaluate(utc(2026, 11, 27, 23, 0)).matched,
            "Friday night"
        );
        assert!(
            nights.evaluate(utc(2026, 11, 28, 5, 59)).matched,
            "early Saturday, Friday's window"
        );
        assert!(
            !nights.evaluate(utc(2026, 11, 28, 23, 0)).matched,
            "Saturday night is not Friday's"
        );
        assert!(
            !nights.evaluate(utc(2026, 11, 27, 5, 0)).matched,
            "early Friday belongs to Thursday"
        );
    }

    #[test]
    fn invert_negates_and_reasons_say_why() {
        let mut out_of_hours = weekdays_8_to_18("UTC");
        out_of_hours.invert = true;
        let result = out_of_hours.evaluate(utc(2026, 11, 28, 12, 0));
        assert!(result.matched);
        assert!(
            result.reason.contains("outside every window"),
            "{}",
            result.reason
        );
        assert!(!out_of_hours.evaluate(utc(2026, 11, 27, 12, 0)).matched);
    }

    #[test]
    fn bad_conditions_name_their_part() {
        let err = TimeCondition::parse(
            "Mars/Base",
            &[(vec![1], "08:00".into(), "09:00".into())],
            false,
        )
        .unwrap_err();
        assert_eq!(err.field, "timezone");
        let err = TimeCondition::parse("UTC", &[(vec![7], "08:00".into(), "09:00".into())], false)
            .unwrap_err();
        assert_eq!(err.field, "windows[0].days_of_week");
        let err = TimeCondition::parse("UTC", &[(vec![1], "8am".into(), "09:00".into())], false)
            .unwrap_err();
        assert_eq!(err.field, "windows[0].start_time");
        assert!(TimeCondition::parse("UTC", &[], false).is_err());
    }
}
