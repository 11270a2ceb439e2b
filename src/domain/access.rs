//! Who may do what. One function decides, so team-scoped permissions (a responder acts
//! only on their teams' alerts) can later extend [`authorize`] with the resource
//! without touching the edges.

use uuid::Uuid;

/// A token's role, ordered by power: every role can do what the ones below it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Responder,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        [Role::Viewer, Role::Responder, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

/// What a caller is trying to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read alerts, services, users.
    Read,
    /// Acknowledge, resolve, annotate, escalate alerts.
    Respond,
    /// Send alerts in for a service named in the request.
    Ingest,
    /// Manage services, keys, users and tokens.
    Administer,
}

/// Who is calling, once their bearer has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A user's API token.
    User { user_id: Uuid, role: Role },
    /// An integration key: it may only send alerts, and only to its own service.
    Integration { service_id: Uuid, key_id: Uuid },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error("this token's role ({role}) may not {action}")]
    RoleTooLow {
        role: &'static str,
        action: &'static str,
    },
    #[error("an integration key may only send alerts")]
    IntegrationKeyNotAllowed,
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Respond => "respond to alerts",
        Action::Ingest => "send alerts",
        Action::Administer => "administer",
    }
}

/// The one place permissions are decided.
pub fn authorize(principal: &Principal, action: Action) -> Result<(), AccessError> {
    match principal {
        Principal::Integration { .. } if action == Action::Ingest => Ok(()),
        Principal::Integration { .. } => Err(AccessError::IntegrationKeyNotAllowed),
        Principal::User { role, .. } => {
            let needed = match action {
                Action::Read => Role::Viewer,
                Action::Respond | Action::Ingest => Role::Responder,
                Action::Administer => Role::Admin,
            };
            if *role >= needed {
                Ok(())
            } else {
                Err(AccessError::RoleTooLow {
                    role: role.as_str(),
                    action: describe(action),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> Principal {
        Principal::User {
            user_id: Uuid::nil(),
            role,
        }
    }

    #[test]
    fn roles_grant_what_they_should() {
        assert!(authorize(&user(Role::Viewer), Action::Read).is_ok());
        assert!(authorize(&user(Role::Viewer), Action::Respond).is_err());
        assert!(authorize(&user(Role::Responder), Action::Respond).is_ok());
        assert!(authorize(&user(Role::Responder), Action::Ingest).is_ok());
        assert!(authorize(&user(Role::Responder), Action::Administer).is_err());
        assert!(authorize(&user(Role::Admin), Action::Administer).is_ok());
    }

    #[test]
    fn integration_keys_only_ingest() {
        let key = Principal::Integration {
            service_id: Uuid::nil(),
            key_id: Uuid::nil(),
        };
        assert!(authorize(&key, Action::Ingest).is_ok());
        assert_eq!(
            authorize(&key, Action::Read),
            Err(AccessError::IntegrationKeyNotAllowed)
        );
    }
}
