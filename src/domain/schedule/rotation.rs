//! Rotations: who holds each shift, and when shifts hand off.
//!
//! Shift 0 runs from the rotation's start instant to the first handoff
//! strictly after it and belongs to `members[0]`; handoff `i` (i ≥ 1) starts
//! shift `i`, held by `members[i % members.len()]`. The start instant itself
//! is not a handoff. Daily, weekly and biweekly handoffs happen at the
//! handoff time on the local wall clock (so a DST day's daily shift lasts 23
//! or 25 hours); custom handoffs are a fixed duration apart.
//!
//! Finding the shift at an instant is arithmetic (local days or weeks since
//! the first handoff, then a ±1 correction against the real handoff
//! instants), never a walk over every shift since the start.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;
use uuid::Uuid;

use super::local_time::{local, resolve};
use super::range::{MAX_SHIFTS_PER_QUERY, RangeError, check_range};
use super::restriction::{Restriction, is_active};

/// How often a rotation hands off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotationKind {
    /// Every day at the handoff time.
    Daily,
    /// Every week on the handoff day at the handoff time.
    Weekly,
    /// Every second week on the handoff day at the handoff time.
    Biweekly,
    /// Every `shift_length` after the start.
    Custom,
}

/// One rotation of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Rotation id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Handoff cadence.
    pub kind: RotationKind,
    /// User ids in rotation order (sorted by position).
    pub members: Vec<Uuid>,
    /// When shift 0 begins; nobody is on call before it.
    pub start: DateTime<Utc>,
    /// Length of each shift; only used by [`RotationKind::Custom`].
    pub shift_length: TimeDelta,
    /// Local wall-clock handoff time in the schedule's zone (not used by
    /// custom rotations).
    pub handoff_time: NaiveTime,
    /// Handoff weekdays, 0 = Sunday … 6 = Saturday. Weekly and biweekly
    /// rotations use the first valid entry (or the start's local weekday when
    /// there is none); daily and custom rotations ignore it.
    pub handoff_days: Vec<u8>,
    /// Windows when the rotation is on call; empty means always.
    pub restrictions: Vec<Restriction>,
    /// Escalation level: 1 primary, 2 secondary, …
    pub level: u32,
}

impl Rotation {
    /// Weekday that weekly and biweekly rotations hand off on: the first
    /// valid entry of `handoff_days`, else the start's weekday in `zone`.
    pub fn handoff_weekday(&self, zone: Tz) -> Weekday {
        self.handoff_days
            .iter()
            .find_map(|&d| weekday_from_sunday(d))
            .unwrap_or_else(|| local(zone, self.start).weekday())
    }

    /// Index of the shift running at `at`, or `None` before the start.
    pub fn shift_index_at(&self, zone: Tz, at: DateTime<Utc>) -> Option<u64> {
        let index = Cadence::new(self, zone).index_at(at)?;
        u64::try_from(index).ok()
    }

    /// Start (and end, unless it is beyond representable time) of shift
    /// `index`.
    pub fn shift_bounds(
        &self,
        zone: Tz,
        index: u64,
    ) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        let index = i64::try_from(index).ok()?;
        let cadence = Cadence::new(self, zone);
        Some((cadence.at(index)?, cadence.at(index.checked_add(1)?)))
    }

    /// Member holding shift `index`, wrapping around the member list.
    pub fn member_for_shift(&self, index: u64) -> Option<Uuid> {
        let count = u64::try_from(self.members.len()).ok()?;
        if count == 0 {
            return None;
        }
        let position = usize::try_from(index % count).ok()?;
        self.members.get(position).copied()
    }

    /// Member whose turn it is at `at`, ignoring restrictions.
    pub fn scheduled_member_at(&self, zone: Tz, at: DateTime<Utc>) -> Option<Uuid> {
        self.member_for_shift(self.shift_index_at(zone, at)?)
    }

    /// Member on call at `at`: whose turn it is, if the restrictions allow.
    pub fn on_call_at(&self, zone: Tz, at: DateTime<Utc>) -> Option<Uuid> {
        if !is_active(&self.restrictions, zone, at) {
            return None;
        }
        self.scheduled_member_at(zone, at)
    }

    /// The first handoff strictly after `after`, with the index of the shift
    /// it ends (the outgoing shift; the incoming one is that plus one).
    pub(super) fn handoff_after(
        &self,
        zone: Tz,
        after: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, u64)> {
        if self.members.is_empty() {
            return None;
        }
        let cadence = Cadence::new(self, zone);
        let outgoing = cadence.index_at(after).unwrap_or(0);
        let at = cadence.at(outgoing.checked_add(1)?)?;
        Some((at, u64::try_from(outgoing).ok()?))
    }
}

/// The first handoff of `rotation` strictly after `after` (handoffs start at
/// the first one after the rotation's start; the start itself is not one).
/// `None` for a rotation without members or one that never hands off.
pub fn next_handoff(rotation: &Rotation, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    rotation.handoff_after(zone, after).map(|(at, _)| at)
}

/// Every handoff of `rotation` in `[from, to)`, strictly increasing.
pub fn handoffs_between(
    rotation: &Rotation,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, RangeError> {
    check_range(from, to)?;
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    if rotation.members.is_empty() {
        return Ok(out);
    }
    let cadence = Cadence::new(rotation, zone);
    // First handoff index at or after `from`.
    let mut index = match cadence.index_at(from) {
        Some(i) if i >= 1 && cadence.at(i) == Some(from) => i,
        Some(i) => i + 1,
        None => 1,
    };
    while let Some(at) = cadence.at(index) {
        if at >= to {
            break;
        }
        if out.len() >= MAX_SHIFTS_PER_QUERY {
            return Err(RangeError::TooManyShifts {
                rotation_id: rotation.id,
                max: MAX_SHIFTS_PER_QUERY,
            });
        }
        // Two local dates can only map to one instant in a zone that skipped
        // a whole day; keep the list strictly increasing regardless.
        if at >= from && out.last().is_none_or(|&last| at > last) {
            out.push(at);
        }
        index += 1;
    }
    Ok(out)
}

/// Converts 0 = Sunday … 6 = Saturday into a weekday.
pub(super) fn weekday_from_sunday(day: u8) -> Option<Weekday> {
    match day {
        0 => Some(Weekday::Sun),
        1 => Some(Weekday::Mon),
        2 => Some(Weekday::Tue),
        3 => Some(Weekday::Wed),
        4 => Some(Weekday::Thu),
        5 => Some(Weekday::Fri),
        6 => Some(Weekday::Sat),
        _ => None,
    }
}

/// How handoff instants are generated.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Handoff `i` is at the handoff time on `first + (i - 1) * days`.
    LocalDays { first: NaiveDate, days: u64 },
    /// Handoff `i` is at `start + i * nanos`.
    Fixed { nanos: i128 },
    /// No handoffs (a custom rotation without a positive shift length, or
    /// one whose first handoff is out of chrono's range).
    Never,
}

/// The handoff sequence of one rotation in one zone: `at(0)` is the start,
/// `at(i)` for i ≥ 1 is handoff `i`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cadence {
    zone: Tz,
    start: DateTime<Utc>,
    time: NaiveTime,
    step: Step,
}

impl Cadence {
    /// Works out the handoff sequence of `rotation` in `zone`.
    pub(super) fn new(rotation: &Rotation, zone: Tz) -> Self {
        let start = rotation.start;
        let time = rotation.handoff_time;
        let step = match rotation.kind {
            RotationKind::Custom => {
                let nanos = duration_nanos(rotation.shift_length);
                if nanos > 0 {
                    Step::Fixed { nanos }
                } else {
                    Step::Never
                }
            }
            RotationKind::Daily => first_local_handoff(zone, start, time, None, 1),
            RotationKind::Weekly => {
                first_local_handoff(zone, start, time, Some(rotation.handoff_weekday(zone)), 7)
            }
            RotationKind::Biweekly => {
                first_local_handoff(zone, start, time, Some(rotation.handoff_weekday(zone)), 14)
            }
        };
        Self {
            zone,
            start,
            time,
            step,
        }
    }

    /// Instant of handoff `index` (the start for 0); `None` for negative
    /// indexes, for a rotation that never hands off, and past chrono's range.
    pub(super) fn at(&self, index: i64) -> Option<DateTime<Utc>> {
        if index == 0 {
            return Some(self.start);
        }
        if index < 0 {
            return None;
        }
        match self.step {
            Step::LocalDays { first, days } => {
                let offset = u64::try_from(index - 1).ok()?.checked_mul(days)?;
                let date = first.checked_add_days(Days::new(offset))?;
                resolve(self.zone, date.and_time(self.time))
            }
            Step::Fixed { nanos } => {
                let total = nanos.checked_mul(i128::from(index))?;
                self.start.checked_add_signed(nanos_duration(total)?)
            }
            Step::Never => None,
        }
    }

    /// Index of the shift running at `at` (the number of handoffs in
    /// `(start, at]`), or `None` before the start.
    pub(super) fn index_at(&self, at: DateTime<Utc>) -> Option<i64> {
        if at < self.start {
            return None;
        }
        let mut index = self.estimate(at).max(0);
        // The estimate is off by at most one or two around DST days and
        // handoff times; correct it against the real handoff instants.
        while index > 0 && self.at(index).is_none_or(|h| h > at) {
            index -= 1;
        }
        while self.at(index + 1).is_some_and(|h| h <= at) {
            index += 1;
        }
        Some(index)
    }

    /// Arithmetic guess of [`Self::index_at`].
    fn estimate(&self, at: DateTime<Utc>) -> i64 {
        match self.step {
            Step::LocalDays { first, days } => {
                let elapsed = local(self.zone, at)
                    .date()
                    .signed_duration_since(first)
                    .num_days();
                let days = i64::try_from(days).unwrap_or(1).max(1);
                elapsed.div_euclid(days).saturating_add(1)
            }
            Step::Fixed { nanos } => {
                let elapsed = duration_nanos(at.signed_duration_since(self.start));
                i64::try_from(elapsed / nanos).unwrap_or(i64::MAX - 1)
            }
            Step::Never => 0,
        }
    }
}

/// The first local date (on `weekday`, if given) whose handoff time falls
/// strictly after `start`, as a local-days step of `days`.
fn first_local_handoff(
    zone: Tz,
    start: DateTime<Utc>,
    time: NaiveTime,
    weekday: Option<Weekday>,
    days: u64,
) -> Step {
    let start_date = local(zone, start).date();
    // Begin a day early: a handoff on the previous local date can only be
    // after the start in a zone that moves a skipped time past midnight.
    let Some(mut date) = start_date.pred_opt() else {
        return Step::Never;
    };
    let hop = if let Some(weekday) = weekday {
        while date.weekday() != weekday {
            let Some(next) = date.succ_opt() else {
                return Step::Never;
            };
            date = next;
        }
        7
    } else {
        1
    };
    // At most three hops are needed; the bound only guards against a broken
    // zone table.
    for _ in 0..8 {
        match resolve(zone, date.and_time(time)) {
            Some(at) if at > start => return Step::LocalDays { first: date, days },
            Some(_) => {}
            None => return Step::Never,
        }
        match date.checked_add_days(Days::new(hop)) {
            Some(next) => date = next,
            None => return Step::Never,
        }
    }
    Step::Never
}

/// Whole nanoseconds in a duration (exact; chrono durations fit in i128).
fn duration_nanos(duration: TimeDelta) -> i128 {
    i128::from(duration.num_seconds()) * 1_000_000_000 + i128::from(duration.subsec_nanos())
}

/// A duration of `nanos` nanoseconds, if chrono can represent it.
fn nanos_duration(nanos: i128) -> Option<TimeDelta> {
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    TimeDelta::new(secs, sub)
}
