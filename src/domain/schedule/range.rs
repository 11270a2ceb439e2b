//! Limits on range queries (shift listings, handoff listings, coverage gaps)
//! and the error they return, so that no query iterates without bound.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// Longest range, in days, that a range query accepts.
pub const MAX_RANGE_DAYS: i64 = 400;

/// Most shifts (or handoffs) one rotation may produce inside one range query.
/// Only custom rotations with very short shifts (under about 12 minutes over
/// a full 400-day range) can reach it.
pub const MAX_SHIFTS_PER_QUERY: usize = 50_000;

/// Why a range query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The range ends before it starts.
    #[error("range end {to} is before its start {from}")]
    Inverted {
        /// Start of the requested range.
        from: DateTime<Utc>,
        /// End of the requested range.
        to: DateTime<Utc>,
    },
    /// The range is longer than [`MAX_RANGE_DAYS`].
    #[error("range is longer than {max_days} days")]
    TooLong {
        /// The limit, [`MAX_RANGE_DAYS`].
        max_days: i64,
    },
    /// One rotation has more than [`MAX_SHIFTS_PER_QUERY`] shifts in the range.
    #[error("rotation {rotation_id} has more than {max} shifts in the range")]
    TooManyShifts {
        /// The rotation that hit the limit.
        rotation_id: Uuid,
        /// The limit, [`MAX_SHIFTS_PER_QUERY`].
        max: usize,
    },
}

/// Checks that `[from, to)` is ordered and no longer than [`MAX_RANGE_DAYS`].
pub(super) fn check_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), RangeError> {
    if to < from {
        return Err(RangeError::Inverted { from, to });
    }
    if to.signed_duration_since(from) > TimeDelta::days(MAX_RANGE_DAYS) {
        return Err(RangeError::TooLong {
            max_days: MAX_RANGE_DAYS,
        });
    }
    Ok(())
}
