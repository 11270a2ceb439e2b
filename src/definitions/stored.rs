//! Definitions kept whole in their stored form (schedules, teams, policies, windows,
//! rules, reference data): read, list, write and delete one kind, with "not found" and
//! "unreadable" told apart from a store that failed.

use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prost::Message;
use uuid::Uuid;

use super::Invalid;
use crate::pb::alerting::routing::v1 as pb;
use crate::store::{Kind, Store, StoreError, StoredDefinition};

/// A message stored as a definition: its id lives in the row, not the body.
pub trait Definition: Message + Default {
    const KIND: Kind;
    /// How it names itself in errors: "schedule", "team".
    const NOUN: &'static str;
    fn set_id(&mut self, id: Uuid);
    /// What the row's `name` column holds (a site's code, everything else's name).
    fn stored_name(&self) -> &str;
}

/// Why a definition could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{noun} {id} not found")]
    NotFound { noun: &'static str, id: Uuid },
    /// The stored body does not decode: data loss, not a passing fault.
    #[error("{noun} {id} is unreadable: {why}")]
    Unreadable {
        noun: &'static str,
        id: Uuid,
        why: String,
    },
    /// What is stored no longer compiles (saved by an older version, say).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The store failed: a passing fault, worth trying again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One kind of definition in the store.
pub struct Definitions<M> {
    store: Arc<dyn Store>,
    kind: PhantomData<M>,
}

impl<M> Clone for Definitions<M> {
    fn clone(&self) -> Self {
        Definitions {
            store: self.store.clone(),
            kind: PhantomData,
        }
    }
}

impl<M: Definition> Definitions<M> {
    pub fn new(store: Arc<dyn Store>) -> Definitions<M> {
        Definitions {
            store,
            kind: PhantomData,
        }
    }

    pub fn decode(stored: &StoredDefinition) -> Result<M, LoadError> {
        let mut message = M::decode(stored.body.as_slice()).map_err(|e| LoadError::Unreadable {
            noun: M::NOUN,
            id: stored.id,
            why: e.to_string(),
        })?;
        message.set_id(stored.id);
        Ok(message)
    }

    /// The definition and when it was created.
    pub async fn get(&self, id: Uuid) -> Result<(M, DateTime<Utc>), LoadError> {
        let stored = self
            .store
            .get_definition(M::KIND, id)
            .await?
            .ok_or(LoadError::NotFound { noun: M::NOUN, id })?;
        Ok((Self::decode(&stored)?, stored.created_at))
    }

    /// The definition, or `None` when there is none.
    pub async fn find(&self, id: Uuid) -> Result<Option<M>, LoadError> {
        match self.get(id).await {
            Ok((message, _)) => Ok(Some(message)),
            Err(LoadError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn list(&self) -> Result<Vec<M>, LoadError> {
        self.store
            .list_definitions(M::KIND)
            .await?
            .iter()
            .map(Self::decode)
            .collect()
    }

    /// Every definition of the kind, with its id.
    pub async fn list_with_ids(&self) -> Result<Vec<(Uuid, M)>, LoadError> {
        self.store
            .list_definitions(M::KIND)
            .await?
            .iter()
            .map(|stored| Self::decode(stored).map(|message| (stored.id, message)))
            .collect()
    }

    pub async fn insert(&self, id: Uuid, message: &M, now: DateTime<Utc>) -> Result<(), LoadError> {
        self.store
            .insert_definition(M::KIND, &Self::row(id, message, now, now))
            .await?;
        Ok(())
    }

    pub async fn update(
        &self,
        id: Uuid,
        message: &M,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), LoadError> {
        if self
            .store
            .update_definition(M::KIND, &Self::row(id, message, created_at, now))
            .await?
        {
            Ok(())
        } else {
            Err(LoadError::NotFound { noun: M::NOUN, id })
        }
    }

    pub async fn delete(&self, id: Uuid) -> Result<(), LoadError> {
        if self.store.delete_definition(M::KIND, id).await? {
            Ok(())
        } else {
            Err(LoadError::NotFound { noun: M::NOUN, id })
        }
    }

    fn row(
        id: Uuid,
        message: &M,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoredDefinition {
        StoredDefinition {
            id,
            name: message.stored_name().to_string(),
            body: message.encode_to_vec(),
            created_at,
            updated_at: now,
        }
    }
}

/// The messages stored whole as definitions, with their table, noun and name column.
macro_rules! stored_as {
    ($($message:ty => $kind:ident, $noun:literal, $name:ident;)*) => {
        $(
            impl Definition for $message {
                const KIND: Kind = Kind::$kind;
                const NOUN: &'static str = $noun;
                fn set_id(&mut self, id: Uuid) {
                    self.id = id.to_string();
                }
                fn stored_name(&self) -> &str {
                    &self.$name
                }
            }
        )*
    };
}

stored_as! {
    pb::Schedule => Schedule, "schedule", name;
    pb::Team => Team, "team", name;
    pb::EscalationPolicy => EscalationPolicy, "escalation policy", name;
    // Sites are stored under their code.
    pb::Site => Site, "site", code;
    pb::CustomerTier => CustomerTier, "customer tier", name;
    pb::EquipmentType => EquipmentType, "equipment type", name;
    pb::CarrierConfig => Carrier, "carrier", name;
}
