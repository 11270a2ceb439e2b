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
    #[error("{0}")]
    NotTheirs(&'static str),
}

/// Something that belongs to one user: only they, or an admin, act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owned {
    /// Their profile (name, zone, quiet hours).
    Profile,
    /// Their contact methods.
    ContactMethods,
    /// A handoff they are the incoming person of.
    IncomingShift,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Principal::User {
                role: Role::Admin,
                ..
            }
        )
    }
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

/// The one place a permission on a user's own things is decided: the user themselves or
/// an admin; never an integration key.
pub fn authorize_own(principal: &Principal, owner: Uuid, what: Owned) -> Result<(), AccessError> {
    let allowed = match principal {
        Principal::User { user_id, .. } => *user_id == owner || principal.is_admin(),
        Principal::Integration { .. } => false,
    };
    if allowed {
        return Ok(());
    }
    Err(AccessError::NotTheirs(match what {
        Owned::Profile => "a user updates themselves; an admin updates anyone",
        Owned::ContactMethods => {
            "a user manages their own contact methods; an admin manages anyone's"
        }
        Owned::IncomingShift => "only the incoming person (or an admin) acknowledges a handoff",
    }))
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
    fn a_users_own_things_are_theirs_and_an_admins() {
        let owner = Uuid::new_v4();
        let them = Principal::User {
            user_id: owner,
            role: Role::Viewer,
        };
        let other = Principal::User {
            user_id: Uuid::new_v4(),
            role: Role::Responder,
        };
        let admin = Principal::User {
            user_id: Uuid::new_v4(),
            role: Role::Admin,
        };
        let key = Principal::Integration {
            service_id: Uuid::nil(),
            key_id: Uuid::nil(),
        };
        for what in [Owned::Profile, Owned::ContactMethods, Owned::IncomingShift] {
            assert!(authorize_own(&them, owner, what).is_ok());
            assert!(authorize_own(&admin, owner, what).is_ok());
            assert!(authorize_own(&other, owner, what).is_err());
            assert!(authorize_own(&key, owner, what).is_err());
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
