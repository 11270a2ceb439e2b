//! Conversions between instants and local wall-clock time in a schedule's
//! zone, with the DST rules the schedule relies on: a local time that does not
//! exist (spring forward) moves to the first valid instant after it, a local
//! time that occurs twice (fall back) takes its first occurrence, and the
//! exact UTC-offset transitions inside a range can be listed.

use chrono::{DateTime, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// Distance between offset probes when looking for transitions. Real zones
/// never change their offset twice (and back) within four hours, so probing
/// at this step and bisecting between probes finds every transition.
const PROBE_STEP_SECS: i64 = 4 * 3600;

/// How far around a nonexistent local time to look for the transition that
/// skipped it: offsets lie within ±14 h, so the transition is within that of
/// the local time read as UTC; 27 h leaves a wide margin.
const GAP_SEARCH_HOURS: i64 = 27;

/// Total UTC offset of `zone` at `at`, in seconds (local minus UTC).
pub(super) fn offset_seconds(zone: Tz, at: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// Local wall-clock date and time of `at` in `zone`.
pub(super) fn local(zone: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&zone).naive_local()
}

/// The instant a local wall-clock time stands for in `zone`.
///
/// A time repeated by a fall-back transition resolves to its first (earlier)
/// occurrence; a time skipped by a spring-forward transition resolves to the
/// transition instant, the first valid instant after it (02:30 on a US
/// spring-forward day becomes 03:00 local). `None` only when the result is
/// outside chrono's representable range.
pub(super) fn resolve(zone: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(at) = zone.from_local_datetime(&wall).earliest() {
        return Some(at.with_timezone(&Utc));
    }
    gap_end(zone, wall)
}

/// The transition instant that skipped the nonexistent local time `wall`.
fn gap_end(zone: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    let guess = wall.and_utc();
    let window = TimeDelta::hours(GAP_SEARCH_HOURS);
    let from = guess.checked_sub_signed(window)?;
    let to = guess.checked_add_signed(window)?;
    for at in transitions_between(zone, from, to) {
        let before = offset_seconds(zone, at.checked_sub_signed(TimeDelta::seconds(1))?);
        let after = offset_seconds(zone, at);
        let gap_start = at
            .naive_utc()
            .checked_add_signed(TimeDelta::seconds(before.into()))?;
        let gap_stop = at
            .naive_utc()
            .checked_add_signed(TimeDelta::seconds(after.into()))?;
        if gap_start <= wall && wall < gap_stop {
            return Some(at);
        }
    }
    // Not reached for tzdata zones (a local time only fails to exist inside a
    // transition's gap); read the time with the offset in force before it so
    // the answer still lies after the gap started.
    let before = offset_seconds(zone, from);
    Some(
        wall.checked_sub_signed(TimeDelta::seconds(before.into()))?
            .and_utc(),
    )
}

/// Every instant strictly inside `(from, to)` at which the UTC offset of
/// `zone` changes, in increasing order. Transitions lie on whole seconds.
pub(super) fn transitions_between(
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let offset_at =
        |secs: i64| DateTime::from_timestamp(secs, 0).map(|at| offset_seconds(zone, at));
    let mut found = Vec::new();
    let last = to.timestamp();
    let mut probe = from.timestamp();
    let Some(mut probe_offset) = offset_at(probe) else {
        return found;
    };
    while probe < last {
        let next = probe.saturating_add(PROBE_STEP_SECS).min(last);
        let Some(next_offset) = offset_at(next) else {
            break;
        };
        if next_offset == probe_offset {
            probe = next;
            continue;
        }
        // Bisect: the offset at `low` is the old one, at `high` it is not.
        let (mut low, mut high) = (probe, next);
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if offset_at(mid) == Some(probe_offset) {
                low = mid;
            } else {
                high = mid;
            }
        }
        if let Some(at) = DateTime::from_timestamp(high, 0)
            && from < at
            && at < to
        {
            found.push(at);
        }
        // Keep scanning from the transition: another may follow before `next`.
        probe = high;
        let Some(offset) = offset_at(high) else {
            break;
        };
        probe_offset = offset;
    }
    found
}
