//! Definitions kept whole in their wire form (schedules, teams): read, list, write and
//! delete one kind, with NOT_FOUND and DATA_LOSS answered the same way for each.

use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prost::Message;
use tonic::Status;
use uuid::Uuid;

use super::pb::alerting::routing::v1 as pb;
use super::store_status;
use crate::store::{Kind, Store, StoredDefinition};

/// A wire message stored as a definition: its id lives in the row, not the body.
pub trait Definition: Message + Default {
    const KIND: Kind;
    /// How it names itself in errors: "schedule", "team".
    const NOUN: &'static str;
    fn set_id(&mut self, id: Uuid);
    /// What the row's `name` column holds (a site's code, everything else's name).
    fn stored_name(&self) -> &str;
}

impl Definition for pb::Schedule {
    const KIND: Kind = Kind::Schedule;
    const NOUN: &'static str = "schedule";
    fn set_id(&mut self, id: Uuid) {
        self.id = id.to_string();
    }
    fn stored_name(&self) -> &str {
        &self.name
    }
}

impl Definition for pb::Team {
    const KIND: Kind = Kind::Team;
    const NOUN: &'static str = "team";
    fn set_id(&mut self, id: Uuid) {
        self.id = id.to_string();
    }
    fn stored_name(&self) -> &str {
        &self.name
    }
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

    fn decode(stored: &StoredDefinition) -> Result<M, Status> {
        let mut message = M::decode(stored.body.as_slice()).map_err(|e| {
            Status::data_loss(format!("{} {} is unreadable: {e}", M::NOUN, stored.id))
        })?;
        message.set_id(stored.id);
        Ok(message)
    }

    /// The definition and when it was created; NOT_FOUND when there is none.
    pub async fn get(&self, id: Uuid) -> Result<(M, DateTime<Utc>), Status> {
        let stored = self
            .store
            .get_definition(M::KIND, id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("{} {id} not found", M::NOUN)))?;
        Ok((Self::decode(&stored)?, stored.created_at))
    }

    /// The definition, or `None` when there is none.
    pub async fn find(&self, id: Uuid) -> Result<Option<M>, Status> {
        match self.get(id).await {
            Ok((message, _)) => Ok(Some(message)),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    pub async fn list(&self) -> Result<Vec<M>, Status> {
        self.store
            .list_definitions(M::KIND)
            .await
            .map_err(store_status)?
            .iter()
            .map(Self::decode)
            .collect()
    }

    pub async fn insert(&self, id: Uuid, message: &M, now: DateTime<Utc>) -> Result<(), Status> {
        self.store
            .insert_definition(
                M::KIND,
                &StoredDefinition {
                    id,
                    name: message.stored_name().to_string(),
                    body: message.encode_to_vec(),
                    created_at: now,
                    updated_at: now,
                },
            )
            .await
            .map_err(store_status)
    }

    pub async fn update(
        &self,
        id: Uuid,
        message: &M,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Status> {
        let found = self
            .store
            .update_definition(
                M::KIND,
                &StoredDefinition {
                    id,
                    name: message.stored_name().to_string(),
                    body: message.encode_to_vec(),
                    created_at,
                    updated_at: now,
                },
            )
            .await
            .map_err(store_status)?;
        if found {
            Ok(())
        } else {
            Err(Status::not_found(format!("{} {id} not found", M::NOUN)))
        }
    }

    pub async fn delete(&self, id: Uuid) -> Result<(), Status> {
        if self
            .store
            .delete_definition(M::KIND, id)
            .await
            .map_err(store_status)?
        {
            Ok(())
        } else {
            Err(Status::not_found(format!("{} {id} not found", M::NOUN)))
        }
    }
}

/// One page of an in-memory listing: the items, the next page token, the total count.
pub fn page_of<T>(matching: Vec<T>, limit: i64, offset: i64) -> (Vec<T>, String, i32) {
    let total = matching.len() as i64;
    let items: Vec<T> = matching
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    let token = super::next_token(offset, items.len(), limit, total);
    (items, token, i32::try_from(total).unwrap_or(i32::MAX))
}
