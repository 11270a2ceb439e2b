//! On-call schedule mathematics: who is on call when, shift listings,
//! handoffs and coverage gaps for a schedule of rotations and overrides in
//! one IANA time zone.
//!
//! Everything here is pure: no I/O and no clock reads; every instant is an
//! argument. Range queries are capped (see [`MAX_RANGE_DAYS`] and
//! [`MAX_SHIFTS_PER_QUERY`]) so that no call loops without bound.

mod gaps;
mod handoff;
mod local_time;
mod oncall;
mod overrides;
mod range;
mod restriction;
mod rotation;
mod shifts;
mod validate;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use chrono_tz::Tz;

pub use gaps::Gap;
pub use handoff::{Handoff, HandoffStep, PlannedStep, Reminders};
pub use oncall::{OnCall, PagingLevel};
pub use overrides::{Override, OverrideKind};
pub use range::{MAX_RANGE_DAYS, MAX_SHIFTS_PER_QUERY, RangeError};
pub use restriction::{Restriction, is_active};
pub use rotation::{Rotation, RotationKind, handoffs_between, next_handoff};
pub use shifts::{Shift, ShiftSource, rotation_shifts};
pub use validate::{
    OverrideInput, Problem, RestrictionInput, RotationInput, validate_override, validate_rotation,
    validate_schedule,
};

/// An on-call schedule: rotations and overrides in one time zone.
///
/// Its queries live beside the concept they answer: [`Schedule::on_call_at`],
/// [`Schedule::shifts`], [`Schedule::next_handoff`],
/// [`Schedule::coverage_gaps`] and [`Schedule::coverage_gaps_at_level`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Zone for handoff times and restriction windows.
    pub time_zone: Tz,
    /// Rotations, in display order (which also orders users within a level).
    pub rotations: Vec<Rotation>,
    /// Overrides, in any order (they apply in creation order).
    pub overrides: Vec<Override>,
}
