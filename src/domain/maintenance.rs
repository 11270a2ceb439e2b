//! Maintenance windows: when they are active (once, or recurring weekly or monthly in a
//! real time zone, with no cap on length) and which alerts they cover (every non-empty
//! criterion must hold: site, service, label matchers).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::matcher::Matcher;
use super::routing::{Field, RoutedAlert};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MaintenanceAction {
    /// Label the alert `maintenance=<window>`; it still notifies.
    Annotate,
    /// One severity level down.
    ReduceSeverity,
    /// Stored as SUPPRESSED; no notification.
    Suppress,
}

/// When a recurring window opens; each opening lasts the recurrence's duration.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// Days 0 = Sunday … 6 = Saturday.
    Weekly(Vec<u8>),
    /// Days of the month, 1 … 31 (a month without that day has no opening).
    Monthly(Vec<u32>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Recurrence {
    pub zone: Tz,
    pub pattern: Pattern,
    /// Local wall-clock time each opening starts.
    pub start: NaiveTime,
    pub duration: Duration,
}

#[derive(Clone, Debug)]
pub struct MaintenanceWindow {
    pub id: Uuid,
    pub name: String,
    /// A one-off window's span, or the span a recurring window's openings fall in.
    pub starts_at: DateTime<Utc>,
    /// `None`: no end.
    pub ends_at: Option<DateTime<Utc>>,
    pub recurrence: Option<Recurrence>,
    pub sites: Vec<String>,
    pub services: Vec<Uuid>,
    pub matchers: Vec<Matcher>,
    pub action: MaintenanceAction,
}

impl MaintenanceWindow {
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        let in_span = self.starts_at <= now && self.ends_at.is_none_or(|end| now < end);
        match &self.recurrence {
            None => in_span,
            Some(recurrence) => in_span && recurrence.open_at(now),
        }
    }

    /// The next instant after `after` at which the window may open or close: when the
    /// engine re-checks it. `None` once it never changes again.
    pub fn next_transition(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut candidates = vec![self.starts_at];
        candidates.extend(self.ends_at);
        if let Some(r) = &self.recurrence {
            let today = after.with_timezone(&r.zone).date_naive();
            let back = r.duration.num_days().max(0) + 1;
            for offset in -back..=62 {
                let Some(day) = today.checked_add_signed(Duration::days(offset)) else {
                    continue;
                };
                if r.opens_on(day)
                    && let Some(start) = r.opening(day)
                {
                    candidates.push(start);
                    candidates.push(start + r.duration);
                }
            }
        }
        candidates.into_iter().filter(|t| *t > after).min()
    }

    /// Whether the window covers the alert (every non-empty criterion holds).
    pub fn covers(&self, alert: &RoutedAlert, service_id: Uuid) -> bool {
        let site_ok = self.sites.is_empty()
            || Field::Site
                .value_of(alert)
                .is_some_and(|site| self.sites.iter().any(|s| s.eq_ignore_ascii_case(site)));
        let service_ok = self.services.is_empty() || self.services.contains(&service_id);
        site_ok && service_ok && self.matchers.iter().all(|m| m.matches(&alert.labels))
    }
}

impl Recurrence {
    /// Whether an opening covers `now`: an opening that started on an earlier day and
    /// is still running counts, however long it lasts.
    fn open_at(&self, now: DateTime<Utc>) -> bool {
        let local_day = now.with_timezone(&self.zone).date_naive();
        let days_back = self.duration.num_days().max(0) + 1;
        (0..=days_back).any(|back| {
            let Some(day) = local_day.checked_sub_signed(Duration::days(back)) else {
                return false;
            };
            self.opens_on(day)
                && self
                    .opening(day)
                    .is_some_and(|start| start <= now && now < start + self.duration)
        })
    }

    fn opens_on(&self, day: NaiveDate) -> bool {
        match &self.pattern {
            Pattern::Weekly(days) => days.contains(&(day.weekday().num_days_from_sunday() as u8)),
            Pattern::Monthly(days) => days.contains(&day.day()),
        }
    }

    /// The instant an opening on `day` starts; a start time the DST change skips opens
    /// at the first instant after the gap.
    fn opening(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        let local = day.and_time(self.start);
        match self.zone.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            chrono::LocalResult::None => (1..=4)
                .map(|h| local + Duration::minutes(30 * h))
                .find_map(|later| self.zone.from_local_datetime(&later).earliest())
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// The window that applies to an alert now, if any: the strongest action wins
/// (suppress over reduce over annotate), then the earliest start.
pub fn applicable<'a>(
    windows: &'a [MaintenanceWindow],
    alert: &RoutedAlert,
    service_id: Uuid,
    now: DateTime<Utc>,
) -> Option<&'a MaintenanceWindow> {
    windows
        .iter()
        .filter(|w| w.active_at(now) && w.covers(alert, service_id))
        .max_by(|a, b| {
            a.action
                .cmp(&b.action)
                .then_with(|| b.starts_at.cmp(&a.starts_at))
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::severity::Severity;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn alert(site: &str, device: &str) -> RoutedAlert {
        RoutedAlert {
            summary: "down".into(),
            severity: Severity::High,
            source: "alertmanager".into(),
            service_id: String::new(),
            status: "triggered".into(),
            labels: BTreeMap::from([
                ("site".into(), site.into()),
                ("device".into(), device.into()),
            ]),
            annotations: BTreeMap::new(),
            reference: Default::default(),
        }
    }

    fn window(action: MaintenanceAction) -> MaintenanceWindow {
        MaintenanceWindow {
            id: Uuid::new_v4(),
            name: "IAD1 linecard swap".into(),
            starts_at: utc(2026, 11, 27, 22, 0),
            ends_at: Some(utc(2026, 11, 28, 2, 0)),
            recurrence: None,
            sites: vec!["IAD1".into()],
            services: Vec::new(),
            matchers: vec![Matcher::parse("device=~core-.*").unwrap()],
            action,
        }
    }

    #[test]
    fn one_off_windows_cover_what_every_criterion_names() {
        let w = window(MaintenanceAction::Suppress);
        let service = Uuid::new_v4();
        assert!(w.active_at(utc(2026, 11, 27, 23, 0)));
        assert!(
            !w.active_at(utc(2026, 11, 28, 2, 0)),
            "the end is exclusive"
        );
        assert!(w.covers(&alert("IAD1", "core-rtr-01.iad1"), service));
        assert!(
            w.covers(&alert("iad1", "core-rtr-01.iad1"), service),
            "site codes ignore case"
        );
        assert!(
            !w.covers(&alert("IAD1", "edge-rtr-01.iad1"), service),
            "matcher fails"
        );
        assert!(
            !w.covers(&alert("FRA3", "core-rtr-01.fra3"), service),
            "site fails"
        );
        let mut scoped = window(MaintenanceAction::Suppress);
        scoped.services = vec![Uuid::new_v4()];
        assert!(
            !scoped.covers(&alert("IAD1", "core-rtr-01.iad1"), service),
            "service fails"
        );
        let mut endless = window(MaintenanceAction::Annotate);
        endless.ends_at = None;
        assert!(endless.active_at(utc(2036, 1, 1, 0, 0)), "no length cap");
    }

    #[test]
    fn weekly_openings_run_past_midnight_in_their_zone() {
        let mut w = window(MaintenanceAction::Suppress);
        w.starts_at = utc(2026, 1, 1, 0, 0);
        w.ends_at = None;
        w.recurrence = Some(Recurrence {
            zone: "America/New_York".parse().unwrap(),
            pattern: Pattern::Weekly(vec![2]),
            start: NaiveTime::from_hms_opt(23, 0, 0).unwrap(),
            duration: Duration::hours(3),
        });
        // Tuesday 24 November 2026, 23:00 EST = Wednesday 04:00 UTC.
        assert!(!w.active_at(utc(2026, 11, 25, 3, 59)));
        assert!(w.active_at(utc(2026, 11, 25, 4, 0)));
        assert!(w.active_at(utc(2026, 11, 25, 6, 59)), "past local midnight");
        assert!(!w.active_at(utc(2026, 11, 25, 7, 0)));
        // In summer the same local time is an hour earlier in UTC.
        assert!(
            w.active_at(utc(2026, 7, 1, 3, 0)),
            "Tuesday 30 June 23:00 EDT"
        );
    }

    #[test]
    fn monthly_openings_and_long_durations() {
        let mut w = window(MaintenanceAction::ReduceSeverity);
        w.starts_at = utc(2026, 1, 1, 0, 0);
        w.ends_at = Some(utc(2027, 1, 1, 0, 0));
        w.recurrence = Some(Recurrence {
            zone: "UTC".parse().unwrap(),
            pattern: Pattern::Monthly(vec![1]),
            start: NaiveTime::from_hms_opt(2, 0, 0).unwrap(),
            duration: Duration::days(3),
        });
        assert!(
            w.active_at(utc(2026, 12, 3, 12, 0)),
            "day three of a three-day opening"
        );
        assert!(!w.active_at(utc(2026, 12, 4, 2, 0)));
        assert!(!w.active_at(utc(2027, 1, 1, 3, 0)), "the span has ended");
    }

    #[test]
    fn transitions_are_the_next_opening_or_closing() {
        let w = window(MaintenanceAction::Suppress);
        assert_eq!(
            w.next_transition(utc(2026, 11, 27, 12, 0)),
            Some(utc(2026, 11, 27, 22, 0))
        );
        assert_eq!(
            w.next_transition(utc(2026, 11, 27, 23, 0)),
            Some(utc(2026, 11, 28, 2, 0))
        );
        assert_eq!(w.next_transition(utc(2026, 11, 28, 3, 0)), None);
        let mut weekly = window(MaintenanceAction::Suppress);
        weekly.starts_at = utc(2026, 1, 1, 0, 0);
        weekly.ends_at = None;
        weekly.recurrence = Some(Recurrence {
            zone: "UTC".parse().unwrap(),
            pattern: Pattern::Weekly(vec![2]),
            start: NaiveTime::from_hms_opt(23, 0, 0).unwrap(),
            duration: Duration::hours(3),
        });
        // Friday 27 November: next is Tuesday 1 December 23:00, then its close.
        assert_eq!(
            weekly.next_transition(utc(2026, 11, 27, 12, 0)),
            Some(utc(2026, 12, 1, 23, 0))
        );
        assert_eq!(
            weekly.next_transition(utc(2026, 12, 2, 0, 0)),
            Some(utc(2026, 12, 2, 2, 0))
        );
    }

    #[test]
    fn the_strongest_applicable_window_wins() {
        let windows = vec![
            window(MaintenanceAction::Annotate),
            window(MaintenanceAction::Suppress),
            window(MaintenanceAction::ReduceSeverity),
        ];
        let chosen = applicable(
            &windows,
            &alert("IAD1", "core-rtr-01.iad1"),
            Uuid::new_v4(),
            utc(2026, 11, 27, 23, 0),
        )
        .unwrap();
        assert_eq!(chosen.action, MaintenanceAction::Suppress);
        assert!(
            applicable(
                &windows,
                &alert("FRA3", "core-rtr-01"),
                Uuid::new_v4(),
                utc(2026, 11, 27, 23, 0)
            )
            .is_none()
        );
    }
}
