//! Shift listings over a range: every rotation shift cut to the range and to
//! the rotation's restrictions, plus the stretches covered by add and replace
//! overrides. The listing is layered: rotation shifts are not trimmed by
//! overrides, so a caller can show both.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::Schedule;
use super::overrides::{OverrideKind, in_creation_order};
use super::range::{MAX_SHIFTS_PER_QUERY, RangeError, check_range};
use super::restriction::{Interval, active_intervals, intersect};
use super::rotation::{Cadence, Rotation};

/// Where a shift comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShiftSource {
    /// A rotation's turn.
    Rotation,
    /// An add or replace override.
    Override,
}

/// A stretch `[start, end)` when one user is on call at one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// The rotation, for rotation shifts.
    pub rotation_id: Option<Uuid>,
    /// The override, for override shifts.
    pub override_id: Option<Uuid>,
    /// The user on call.
    pub user_id: Uuid,
    /// The level.
    pub level: u32,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
    /// Rotation or override.
    pub source: ShiftSource,
}

/// The shifts of one rotation inside `[from, to)`, each cut to the range and
/// split into the pieces that lie inside the rotation's restriction windows,
/// in time order.
pub fn rotation_shifts(
    rotation: &Rotation,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Shift>, RangeError> {
    check_range(from, to)?;
    let mut out = Vec::new();
    let low = from.max(rotation.start);
    if rotation.members.is_empty() || low >= to {
        return Ok(out);
    }
    let windows = active_intervals(&rotation.restrictions, zone, low, to);
    let cadence = Cadence::new(rotation, zone);
    let Some(mut index) = cadence.index_at(low) else {
        return Ok(out);
    };
    let mut visited = 0usize;
    while let Some(shift_start) = cadence.at(index) {
        visited += 1;
        if visited > MAX_SHIFTS_PER_QUERY {
            return Err(RangeError::TooManyShifts {
                rotation_id: rotation.id,
                max: MAX_SHIFTS_PER_QUERY,
            });
        }
        let shift_end = cadence.at(index + 1);
        let (start, end) = (shift_start.max(low), shift_end.map_or(to, |e| e.min(to)));
        let user = u64::try_from(index)
            .ok()
            .and_then(|i| rotation.member_for_shift(i));
        if let Some(user_id) = user
            && start < end
        {
            for (piece_start, piece_end) in intersect(&windows, start, end) {
                out.push(Shift {
                    rotation_id: Some(rotation.id),
                    override_id: None,
                    user_id,
                    level: rotation.level,
                    start: piece_start,
                    end: piece_end,
                    source: ShiftSource::Rotation,
                });
            }
        }
        match shift_end {
            Some(e) if e < to => index += 1,
            _ => break,
        }
    }
    Ok(out)
}

impl Schedule {
    /// Every shift in `[from, to)`, sorted by start, then level (ties keep
    /// rotation order, then override creation order).
    ///
    /// Rotation shifts come from [`rotation_shifts`]. Add overrides give one
    /// shift over their span cut to the range; replace overrides give the
    /// parts of their span where the replaced user is on call by rotation at
    /// that level; remove overrides give none.
    pub fn shifts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Shift>, RangeError> {
        check_range(from, to)?;
        let mut out = Vec::new();
        for rotation in &self.rotations {
            out.extend(rotation_shifts(rotation, self.time_zone, from, to)?);
        }
        let mut from_overrides = Vec::new();
        for o in in_creation_order(&self.overrides) {
            let (start, end) = (o.start.max(from), o.end.min(to));
            if start >= end {
                continue;
            }
            let spans: Vec<Interval> = match o.kind {
                OverrideKind::Add => vec![(start, end)],
                OverrideKind::Remove => Vec::new(),
                OverrideKind::Replace { replaced_user_id } => {
                    let covered: Vec<Interval> = out
                        .iter()
                        .filter(|s| s.level == o.level && s.user_id == replaced_user_id)
                        .map(|s| (s.start, s.end))
                        .collect();
                    intersect(&merge(covered), start, end)
                }
            };
            from_overrides.extend(spans.into_iter().map(|(s, e)| Shift {
                rotation_id: None,
                override_id: Some(o.id),
                user_id: o.user_id,
                level: o.level,
                start: s,
                end: e,
                source: ShiftSource::Override,
            }));
        }
        out.extend(from_overrides);
        out.sort_by_key(|s| (s.start, s.level));
        Ok(out)
    }
}

/// Sorts intervals and joins the ones that overlap or touch.
fn merge(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(intervals.len());
    for (s, e) in intervals {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}
