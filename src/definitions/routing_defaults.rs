//! Default routing: the actions that run when no rule matches, kept as one settings
//! document and compiled with the rules.

use prost::Message;

use super::routing::check_action;
use super::{Invalid, fields};
use crate::domain::routing::Defaults;
use crate::domain::severity::Severity;
use crate::pb::alerting::routing::v1 as pb;

/// The settings document the defaults are stored as.
pub const DOCUMENT: &str = "routing_defaults";

/// Checks defaults as written and compiles them; errors name the field under `defaults`.
pub fn compile(defaults: &pb::DefaultRouting) -> Result<Defaults<pb::RoutingAction>, Invalid> {
    for (i, action) in defaults.actions.iter().enumerate() {
        check_action(action, &format!("defaults.actions[{i}]"))?;
    }
    let minimum_severity =
        fields::severity("defaults.minimum_severity", defaults.minimum_severity)?
            .unwrap_or(Severity::Info);
    Ok(Defaults {
        actions: defaults.actions.clone(),
        minimum_severity,
    })
}

/// The saved defaults, or none (nothing runs when no rule matches).
pub fn decode(body: Option<&[u8]>) -> Result<pb::DefaultRouting, String> {
    body.map_or(Ok(pb::DefaultRouting::default()), |b| {
        pb::DefaultRouting::decode(b).map_err(|e| format!("routing defaults are unreadable: {e}"))
    })
}
