//! Handoffs: when a rotation passes the shift from one member to the next, the
//! schedule's next handoff over all its rotations, and the steps a schedule's actor
//! takes around each handoff (reminders before it, the handoff itself).

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::Schedule;
use super::rotation::Rotation;

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

/// What a schedule's actor does around a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffStep {
    RemindOutgoing,
    RemindIncoming,
    /// The shift changes hands: post the summary, and wait for the incoming
    /// person's acknowledgement if the schedule asks for one.
    HandOff,
}

/// The next step of a schedule's handoffs, and the handoff it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    pub at: DateTime<Utc>,
    pub step: HandoffStep,
    pub handoff: Handoff,
}

/// How long before a handoff each person is reminded; `None` means not at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reminders {
    pub outgoing: Option<TimeDelta>,
    pub incoming: Option<TimeDelta>,
}

impl Schedule {
    /// The first handoff of `rotation` strictly after `after`, with who hands to whom.
    pub fn rotation_handoff_after(
        &self,
        rotation: &Rotation,
        after: DateTime<Utc>,
    ) -> Option<Handoff> {
        let (at, outgoing) = rotation.handoff_after(self.time_zone, after)?;
        Some(Handoff {
            rotation_id: rotation.id,
            level: rotation.level,
            at,
            outgoing_user_id: rotation.member_for_shift(outgoing)?,
            incoming_user_id: rotation.member_for_shift(outgoing.checked_add(1)?)?,
        })
    }

    /// The earliest handoff strictly after `after` over all rotations; ties go
    /// to the rotation listed first. Restrictions are not consulted: a
    /// handoff outside a restriction window still changes whose turn it is.
    pub fn next_handoff(&self, after: DateTime<Utc>) -> Option<Handoff> {
        let mut best: Option<Handoff> = None;
        for rotation in &self.rotations {
            let Some(handoff) = self.rotation_handoff_after(rotation, after) else {
                continue;
            };
            if best.as_ref().is_none_or(|b| handoff.at < b.at) {
                best = Some(handoff);
            }
        }
        best
    }

    /// The first step strictly after `after`: a reminder before a handoff, or the
    /// handoff. Handoffs from a member to themselves (one-member rotations) have no
    /// steps. Each rotation's next two handoffs are looked at, so a reminder longer
    /// than a shift still comes before its handoff.
    pub fn next_handoff_step(
        &self,
        after: DateTime<Utc>,
        reminders: Reminders,
    ) -> Option<PlannedStep> {
        let mut best: Option<PlannedStep> = None;
        let mut consider = |step: PlannedStep| {
            if step.at > after && best.as_ref().is_none_or(|b| step.at < b.at) {
                best = Some(step);
            }
        };
        for rotation in &self.rotations {
            let mut from = after;
            for _ in 0..2 {
                let Some(handoff) = self.rotation_handoff_after(rotation, from) else {
                    break;
                };
                from = handoff.at;
                if handoff.outgoing_user_id == handoff.incoming_user_id {
                    continue;
                }
                let before = |offset: Option<TimeDelta>| offset.map(|o| handoff.at - o);
                if let Some(at) = before(reminders.outgoing) {
                    consider(PlannedStep {
                        at,
                        step: HandoffStep::RemindOutgoing,
                        handoff: handoff.clone(),
                    });
                }
                if let Some(at) = before(reminders.incoming) {
                    consider(PlannedStep {
                        at,
                        step: HandoffStep::RemindIncoming,
                        handoff: handoff.clone(),
                    });
                }
                consider(PlannedStep {
                    at: handoff.at,
                    step: HandoffStep::HandOff,
                    handoff,
                });
            }
        }
        best
    }
}
