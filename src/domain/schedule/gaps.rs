//! Coverage gaps: the maximal stretches of a range in which nobody is on call
//! at a level once overrides are applied.
//!
//! Found by sweeping: who is on call can only change at a shift or
//! restriction-window boundary or at an override's start or end, so the
//! answer is read once per stretch between consecutive boundaries.

use chrono::{DateTime, Utc};

use super::Schedule;
use super::range::{RangeError, check_range};
use super::shifts::rotation_shifts;

/// A stretch `[start, end)` with nobody on call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gap {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl Schedule {
    /// Coverage gaps at level 1 (primary) in `[from, to)`.
    pub fn coverage_gaps(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Gap>, RangeError> {
        self.coverage_gaps_at_level(1, from, to)
    }

    /// Coverage gaps at `level` in `[from, to)`, in order and maximal
    /// (adjacent gaps are joined).
    pub fn coverage_gaps_at_level(
        &self,
        level: u32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Gap>, RangeError> {
        check_range(from, to)?;
        let mut cuts = vec![from, to];
        for rotation in self.rotations.iter().filter(|r| r.level == level) {
            for shift in rotation_shifts(rotation, self.time_zone, from, to)? {
                cuts.push(shift.start);
                cuts.push(shift.end);
            }
        }
        for o in self.overrides.iter().filter(|o| o.level == level) {
            cuts.extend([o.start, o.end].into_iter().filter(|&t| from < t && t < to));
        }
        cuts.sort();
        cuts.dedup();

        let mut gaps: Vec<Gap> = Vec::new();
        for pair in cuts.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            if !self.on_call_at(start).level(level).is_empty() {
                continue;
            }
            match gaps.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => gaps.push(Gap { start, end }),
            }
        }
        Ok(gaps)
    }
}
