//! Overrides: temporary changes that beat the rotations at one level.
//!
//! Overrides active at an instant are applied in creation order (by
//! `created_at`, then id), so where they disagree the later one wins. Each
//! user placed by a rotation occupies a slot; a replace override takes over
//! the slot of the replaced rotation user (even if an earlier override had
//! already replaced or removed them), an add override appends a slot, and a
//! remove override empties every slot its user holds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What an override does at its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverrideKind {
    /// The override's user takes `replaced_user_id`'s place while the latter
    /// is on call at the level by rotation.
    Replace {
        /// The user whose rotation turn is covered.
        replaced_user_id: Uuid,
    },
    /// The override's user is on call too.
    Add,
    /// The override's user is taken off the level.
    Remove,
}

/// A temporary change to who is on call at one level during `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Override id; breaks ties in creation order.
    pub id: Uuid,
    /// What the override does.
    pub kind: OverrideKind,
    /// The user added, removed, or replacing someone.
    pub user_id: Uuid,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
    /// Level the override applies to.
    pub level: u32,
    /// Why it was made.
    pub reason: String,
    /// Who made it.
    pub author: String,
    /// When it was made; later overrides win.
    pub created_at: DateTime<Utc>,
}

impl Override {
    /// Whether `at` lies in `[start, end)`.
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

/// The overrides in the order they apply: by creation time, then id.
pub(super) fn in_creation_order(overrides: &[Override]) -> Vec<&Override> {
    let mut ordered: Vec<&Override> = overrides.iter().collect();
    ordered.sort_by_key(|o| (o.created_at, o.id));
    ordered
}

/// One place on a level: who holds it now, and which rotation user it
/// belongs to (`None` for slots made by add overrides).
struct Slot {
    user: Option<Uuid>,
    origin: Option<Uuid>,
}

/// Applies `active` overrides (already in creation order, all active at the
/// instant) to the per-level users put on call by rotations.
///
/// Every level of `by_rotation` stays in the result, and any level an active
/// override names is added, even when it ends up empty.
pub(super) fn apply(
    by_rotation: &BTreeMap<u32, Vec<Uuid>>,
    active: &[&Override],
) -> BTreeMap<u32, Vec<Uuid>> {
    let mut slots: BTreeMap<u32, Vec<Slot>> = by_rotation
        .iter()
        .map(|(&level, users)| {
            let level_slots = users
                .iter()
                .map(|&u| Slot {
                    user: Some(u),
                    origin: Some(u),
                })
                .collect();
            (level, level_slots)
        })
        .collect();

    for o in active {
        let level_slots = slots.entry(o.level).or_default();
        match o.kind {
            OverrideKind::Replace { replaced_user_id } => {
                for slot in level_slots.iter_mut() {
                    if slot.origin == Some(replaced_user_id) {
                        slot.user = Some(o.user_id);
                    }
                }
            }
            OverrideKind::Add => {
                if !level_slots.iter().any(|s| s.user == Some(o.user_id)) {
                    level_slots.push(Slot {
                        user: Some(o.user_id),
                        origin: None,
                    });
                }
            }
            OverrideKind::Remove => {
                for slot in level_slots.iter_mut() {
                    if slot.user == Some(o.user_id) {
                        slot.user = None;
                    }
                }
            }
        }
    }

    slots
        .into_iter()
        .map(|(level, level_slots)| {
            let mut users: Vec<Uuid> = Vec::new();
            for user in level_slots.into_iter().filter_map(|s| s.user) {
                // A replacement may already be on call in another slot.
                if !users.contains(&user) {
                    users.push(user);
                }
            }
            (level, users)
        })
        .collect()
}
