//! Who is on call at one instant: per level, the members of every rotation
//! whose turn it is (in rotation order, without repeats), then the active
//! overrides applied in creation order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Schedule;
use super::overrides::{apply, in_creation_order};

/// The users on call at one instant, by level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnCall {
    /// Users per level (1 primary, 2 secondary, …). A level with a rotation
    /// or an active override appears even when nobody is on call there.
    pub levels: BTreeMap<u32, Vec<Uuid>>,
}

/// The level to page and whether it stands in for an empty level 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagingLevel {
    /// The lowest level with anyone on call.
    pub level: u32,
    /// The users on call at that level.
    pub users: Vec<Uuid>,
    /// True when level 1 is empty and a higher level is paged instead.
    pub fallback: bool,
}

impl OnCall {
    /// Users on call at `level` (empty if none).
    pub fn level(&self, level: u32) -> &[Uuid] {
        self.levels.get(&level).map_or(&[], Vec::as_slice)
    }

    /// First user on call at level 1.
    pub fn primary(&self) -> Option<Uuid> {
        self.level(1).first().copied()
    }

    /// First user on call at level 2.
    pub fn secondary(&self) -> Option<Uuid> {
        self.level(2).first().copied()
    }

    /// The lowest level with anyone on call; `fallback` says whether it is
    /// not level 1. `None` when nobody is on call at any level.
    pub fn paging_level(&self) -> Option<PagingLevel> {
        self.levels
            .iter()
            .find(|(_, users)| !users.is_empty())
            .map(|(&level, users)| PagingLevel {
                level,
                users: users.clone(),
                fallback: level != 1,
            })
    }
}

impl Schedule {
    /// Who is on call at `at`, with overrides applied.
    pub fn on_call_at(&self, at: DateTime<Utc>) -> OnCall {
        let by_rotation = self.rotation_users_at(at);
        let active: Vec<_> = in_creation_order(&self.overrides)
            .into_iter()
            .filter(|o| o.is_active_at(at))
            .collect();
        OnCall {
            levels: apply(&by_rotation, &active),
        }
    }

    /// Per level, the members whose rotation turn it is at `at` (ignoring
    /// overrides), in rotation order without repeats. Every rotation's level
    /// is present.
    pub(super) fn rotation_users_at(&self, at: DateTime<Utc>) -> BTreeMap<u32, Vec<Uuid>> {
        let mut levels: BTreeMap<u32, Vec<Uuid>> = BTreeMap::new();
        for rotation in &self.rotations {
            let users = levels.entry(rotation.level).or_default();
            if let Some(user) = rotation.on_call_at(self.time_zone, at)
                && !users.contains(&user)
            {
                users.push(user);
            }
        }
        levels
    }
}
