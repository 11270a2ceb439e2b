//! The schedule's next handoff: the earliest upcoming handoff over all of its
//! rotations, with the outgoing and incoming users.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Schedule;

/// One rotation handing a shift from one member to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The rotation handing off.
    pub rotation_id: Uuid,
    /// The rotation's level.
    pub level: u32,
    /// When the handoff happens.
    pub at: DateTime<Utc>,
    /// Member whose shift ends (the same as `incoming_user_id` in a
    /// one-member rotation).
    pub outgoing_user_id: Uuid,
    /// Member whose shift begins.
    pub incoming_user_id: Uuid,
}

impl Schedule {
    /// The earliest handoff strictly after `after` over all rotations; ties go
    /// to the rotation listed first. Restrictions are not consulted: a
    /// handoff outside a restriction window still changes whose turn it is.
    pub fn next_handoff(&self, after: DateTime<Utc>) -> Option<Handoff> {
        let mut best: Option<Handoff> = None;
        for rotation in &self.rotations {
            let Some((at, outgoing)) = rotation.handoff_after(self.time_zone, after) else {
                continue;
            };
            if best.as_ref().is_some_and(|b| b.at <= at) {
                continue;
            }
            let (Some(outgoing_user_id), Some(incoming_user_id)) = (
                rotation.member_for_shift(outgoing),
                outgoing
                    .checked_add(1)
                    .and_then(|i| rotation.member_for_shift(i)),
            ) else {
                continue;
            };
            best = Some(Handoff {
                rotation_id: rotation.id,
                level: rotation.level,
                at,
                outgoing_user_id,
                incoming_user_id,
            });
        }
        best
    }
}
