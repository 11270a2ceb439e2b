//! Restrictions: the local wall-clock windows inside which a rotation is on
//! call, and the conversion of those windows into exact UTC intervals.
//!
//! A window is a set of weekdays plus a start and end local time. An end at
//! or before the start crosses midnight, and the window belongs to the day it
//! starts on (Monday 22:00–06:00 runs into Tuesday morning). Whether a window
//! is open is decided on the local wall clock, so in a repeated fall-back hour
//! the window is judged by the clock reading, both times round.

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::local_time::{local, offset_seconds, transitions_between};

/// A half-open UTC interval `[start, end)`.
pub(super) type Interval = (DateTime<Utc>, DateTime<Utc>);

/// One weekly window when a rotation is on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    /// Days the window starts on: 0 = Sunday … 6 = Saturday.
    pub days: Vec<u8>,
    /// Local wall-clock time the window opens.
    pub start: NaiveTime,
    /// Local wall-clock time the window closes; at or before `start` it
    /// closes on the following day (equal to `start` means a full 24 hours).
    pub end: NaiveTime,
}

impl Restriction {
    /// Whether the window closes on the day after it opens.
    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }

    /// Whether the window is open at this local wall-clock date and time.
    pub fn contains_local(&self, wall: NaiveDateTime) -> bool {
        let time = wall.time();
        let day = wall.weekday().num_days_from_sunday();
        let starts_on = |d: u32| self.days.iter().any(|&x| u32::from(x) == d);
        if self.crosses_midnight() {
            // Either the window opened today, or it opened yesterday and has
            // not closed yet.
            let yesterday = (day + 6) % 7;
            (starts_on(day) && time >= self.start) || (starts_on(yesterday) && time < self.end)
        } else {
            starts_on(day) && self.start <= time && time < self.end
        }
    }
}

/// Whether a rotation with these restrictions may be on call at `at`.
/// No restrictions means always.
pub fn is_active(restrictions: &[Restriction], zone: Tz, at: DateTime<Utc>) -> bool {
    if restrictions.is_empty() {
        return true;
    }
    let wall = local(zone, at);
    restrictions.iter().any(|r| r.contains_local(wall))
}

/// The maximal sub-intervals of `[from, to)` during which [`is_active`] holds,
/// in order.
///
/// Rather than sampling, this cuts the range at every instant where the
/// answer could change: offset transitions, and every instant whose local
/// time is a window start, end, or midnight. Between two cuts the local clock
/// runs continuously without passing any of those readings, so the answer is
/// constant and can be read at the left cut.
pub(super) fn active_intervals(
    restrictions: &[Restriction],
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Interval> {
    if from >= to {
        return Vec::new();
    }
    if restrictions.is_empty() {
        return vec![(from, to)];
    }
    let mut readings: Vec<NaiveTime> = restrictions
        .iter()
        .flat_map(|r| [r.start, r.end])
        .chain([NaiveTime::MIN])
        .collect();
    readings.sort();
    readings.dedup();

    let transitions = transitions_between(zone, from, to);
    let mut segment_bounds = Vec::with_capacity(transitions.len() + 2);
    segment_bounds.push(from);
    segment_bounds.extend(transitions.iter().copied());
    segment_bounds.push(to);

    let mut cuts = segment_bounds.clone();
    for pair in segment_bounds.windows(2) {
        let (seg_start, seg_end) = (pair[0], pair[1]);
        // Inside one segment the offset is fixed, so local = utc + offset.
        let offset = TimeDelta::seconds(offset_seconds(zone, seg_start).into());
        let wall_start = local(zone, seg_start).date();
        // One day of margin either side keeps every local reading of the
        // segment in the loop, whatever the offset.
        let wall_end = seg_end
            .naive_utc()
            .checked_add_signed(offset)
            .map_or(wall_start, |w| w.date());
        let wall_end = wall_end.succ_opt().unwrap_or(wall_end);
        let mut day = wall_start.pred_opt().unwrap_or(wall_start);
        while day <= wall_end {
            for &reading in &readings {
                let Some(at) = day.and_time(reading).checked_sub_signed(offset) else {
                    continue;
                };
                let at = at.and_utc();
                if seg_start < at && at < seg_end {
                    cuts.push(at);
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
    }
    cuts.sort();
    cuts.dedup();

    let mut out: Vec<Interval> = Vec::new();
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        if !is_active(restrictions, zone, start) {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => out.push((start, end)),
        }
    }
    out
}

/// The pieces of `[start, end)` that lie inside the sorted, disjoint
/// `intervals`.
pub(super) fn intersect(
    intervals: &[Interval],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Interval> {
    let first = intervals.partition_point(|&(_, e)| e <= start);
    intervals[first..]
        .iter()
        .take_while(|&&(s, _)| s < end)
        .filter_map(|&(s, e)| {
            let (a, b) = (s.max(start), e.min(end));
            (a < b).then_some((a, b))
        })
        .collect()
}
