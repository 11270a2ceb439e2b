//! Teams: members with roles, the services they own and their default policy.

use crate::pb::alerting::routing::v1 as pb;

/// The users a team names as managers: they hear when a handoff goes unacknowledged.
pub fn managers(team: &pb::Team) -> Vec<String> {
    team.members
        .iter()
        .filter(|m| m.role == pb::TeamRole::Manager as i32)
        .map(|m| m.user_id.clone())
        .collect()
}
