//! What the four reference-data services (sites, customer tiers, equipment types,
//! carriers) share: each entity is checked and compiled as enrichment will use it before
//! it is stored, its unique key is unique, the teams and policies it names exist, and
//! every write swaps a rebuilt snapshot into the enrichment book.

use chrono::{SubsecRound, Utc};
use prost_types::Timestamp;
use tonic::Status;
use uuid::Uuid;

use super::pb::alerting::routing::v1 as pb;
use super::{Context, convert, invalid, parse_id};
use crate::books::enrichment::EnrichmentBook;
use crate::definitions::{Definition, Definitions};

/// A reference entity in its wire form.
pub trait Reference: Definition + Clone + Send + Sync + 'static {
    /// The request field that carries it, and the prefix of its errors: `site`.
    const FIELD: &'static str;
    /// What its unique key is called in errors: `code`, `name`, `ASN`.
    const KEY: &'static str;

    fn id(&self) -> &str;
    /// Puts the entity in its canonical form (upper-case codes, defaults filled in) and
    /// checks it whole; errors name the field.
    fn normalise(&mut self) -> Result<(), Status>;
    /// The key no two entities may share, compared without case.
    fn key(&self) -> String;
    /// Teams it names, by field.
    fn teams(&self) -> Vec<(String, &str)> {
        Vec::new()
    }
    /// Escalation policies it names, by field.
    fn policies(&self) -> Vec<(String, &str)> {
        Vec::new()
    }
    /// A conflict with another entity of its kind beyond the key (a customer in two
    /// tiers); INVALID_ARGUMENT naming the field.
    fn conflicts_with(&self, _other: &Self) -> Option<Status> {
        None
    }
    fn stamp(&mut self, created: Timestamp, updated: Timestamp);
}

/// One kind of reference entity: its CRUD, shared by the four services.
pub struct Registry<M> {
    ctx: Context,
    entities: Definitions<M>,
    teams: Definitions<pb::Team>,
    policies: Definitions<pb::EscalationPolicy>,
    book: EnrichmentBook,
}

impl<M: Reference> Registry<M> {
    pub fn new(ctx: Context) -> Registry<M> {
        Registry {
            entities: Definitions::new(ctx.store.clone()),
            teams: Definitions::new(ctx.store.clone()),
            policies: Definitions::new(ctx.store.clone()),
            book: ctx.engine.enrichment().clone(),
            ctx,
        }
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    pub async fn create(&self, given: Option<M>) -> Result<M, Status> {
        let mut entity = given.ok_or_else(|| invalid(M::FIELD, "required"))?;
        let id = Uuid::new_v4();
        entity.set_id(id);
        self.check(&mut entity).await?;
        let now = stored_now();
        entity.stamp(convert::timestamp(now), convert::timestamp(now));
        self.entities.insert(id, &entity, now).await?;
        self.changed().await;
        Ok(entity)
    }

    /// Replaces the entity whole.
    pub async fn update(&self, given: Option<M>) -> Result<M, Status> {
        let mut entity = given.ok_or_else(|| invalid(M::FIELD, "required"))?;
        let id = parse_id(&format!("{}.id", M::FIELD), entity.id())?;
        let (_, created) = self.entities.get(id).await?;
        entity.set_id(id);
        self.check(&mut entity).await?;
        let now = stored_now();
        entity.stamp(convert::timestamp(created), convert::timestamp(now));
        self.entities.update(id, &entity, created, now).await?;
        self.changed().await;
        Ok(entity)
    }

    pub async fn delete(&self, id: &str) -> Result<(), Status> {
        self.entities.delete(parse_id("id", id)?).await?;
        self.changed().await;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<M, Status> {
        Ok(self.entities.get(parse_id("id", id)?).await?.0)
    }

    /// The entity whose key is `key` (without case); NOT_FOUND naming the key.
    pub async fn by_key(&self, field: &str, key: &str) -> Result<M, Status> {
        if key.trim().is_empty() {
            return Err(invalid(field, "required"));
        }
        let wanted = key.trim().to_lowercase();
        self.list()
            .await?
            .into_iter()
            .find(|e| e.key() == wanted)
            .ok_or_else(|| Status::not_found(format!("no {} with {} {key:?}", M::NOUN, M::KEY)))
    }

    pub async fn list(&self) -> Result<Vec<M>, Status> {
        Ok(self.entities.list().await?)
    }

    async fn check(&self, entity: &mut M) -> Result<(), Status> {
        entity.normalise()?;
        for (field, id) in entity.teams() {
            if !id.is_empty() && self.teams.find(parse_id(&field, id)?).await?.is_none() {
                return Err(invalid(field, "no such team"));
            }
        }
        for (field, id) in entity.policies() {
            if !id.is_empty() && self.policies.find(parse_id(&field, id)?).await?.is_none() {
                return Err(invalid(field, "no such escalation policy"));
            }
        }
        let key = entity.key();
        for other in self.list().await? {
            if other.id() == entity.id() {
                continue;
            }
            if other.key() == key {
                return Err(Status::already_exists(format!(
                    "a {} with {} {key:?} already exists",
                    M::NOUN,
                    M::KEY
                )));
            }
            if let Some(conflict) = entity.conflicts_with(&other) {
                return Err(conflict);
            }
        }
        Ok(())
    }

    /// Enrichment sees the change from the next alert on.
    async fn changed(&self) {
        if let Err(error) = self.book.reload().await {
            tracing::error!(%error, "reference data changed but could not be reloaded; enrichment uses the previous snapshot");
        }
    }
}

/// Now, to the microsecond both stores keep, so what a write answers is what a read of
/// it later gives.
fn stored_now() -> chrono::DateTime<Utc> {
    crate::clock::now().trunc_subsecs(6)
}

/// Compiles hostname patterns, each bounded in size so a pathological expression
/// cannot be saved.
pub fn compile_patterns(field: &str, patterns: &[String]) -> Result<Vec<regex::Regex>, Status> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, pattern)| {
            if pattern.trim().is_empty() {
                return Err(invalid(format!("{field}[{i}]"), "empty pattern"));
            }
            regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| invalid(format!("{field}[{i}]"), e))
        })
        .collect()
}

/// An optional id field, parsed.
pub fn optional_id(field: &str, value: &str) -> Result<Option<Uuid>, Status> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse_id(field, value).map(Some)
    }
}
