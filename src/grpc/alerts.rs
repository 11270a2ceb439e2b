//! `alerting.v1.AlertService`: ingestion (unary, batch, bidirectional stream) and the
//! responder's work on alerts.
//!
//! About 600 lines: sixteen RPCs, each a short handler; the rules live in the engine and
//! `domain::lifecycle`.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use super::pb::alerting::v1 as pb;
use super::pb::alerting::v1::alert_service_server::AlertService;
use super::{Context, convert, engine_status, page, parse_id, problem_status, store_status};
use crate::actors::engine::{IngestReport, PendingIngest};
use crate::actors::{Admission, EngineError};
use crate::domain::access::{Action, Principal};
use crate::domain::lifecycle::{AlertChanges, Command, IngestOutcome};
use crate::store::AlertQuery;

/// Batches of one stream in flight at once; acks still leave in order.
const STREAM_PIPELINE: usize = 8;
/// How long a stream waits for admission before RESOURCE_EXHAUSTED.
const STREAM_ADMISSION_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct AlertApi {
    ctx: Context,
}

impl AlertApi {
    pub fn new(ctx: Context) -> AlertApi {
        AlertApi { ctx }
    }

    /// The service alerts go to: an integration key's own, or the one a user names.
    async fn target_service(&self, principal: &Principal, given: &str) -> Result<Uuid, Status> {
        match principal {
            Principal::Integration { service_id, .. } => {
                if !given.is_empty() && parse_id("service_id", given)? != *service_id {
                    return Err(Status::permission_denied(
                        "service_id: this integration key belongs to another service",
                    ));
                }
                Ok(*service_id)
            }
            Principal::User { .. } => {
                let id = parse_id("service_id", given)?;
                self.ctx
                    .store
                    .get_service(id)
                    .await
                    .map_err(store_status)?
                    .ok_or_else(|| Status::not_found(format!("service_id: no service {id}")))?;
                Ok(id)
            }
        }
    }

    /// Validates a whole request (all or nothing) and has the engine decide it; the
    /// returned request still has to be committed.
    async fn submit(
        &self,
        principal: &Principal,
        service_id: &str,
        inputs: &[pb::AlertInput],
        field: impl Fn(usize) -> String,
        admission: Admission,
    ) -> Result<PendingIngest, Status> {
        let service_id = self.target_service(principal, service_id).await?;
        if inputs.is_empty() {
            return Err(Status::invalid_argument(format!("{}: required", field(0))));
        }
        let mut alerts = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            let alert = convert::incoming_from_pb(input)
                .and_then(|a| a.validate(&self.ctx.limits).map(|()| a))
                .map_err(|p| problem_status(p.within(&field(i))))?;
            alerts.push(alert);
        }
        if let Principal::Integration { key_id, .. } = principal {
            self.flood_guard(*key_id, alerts.len(), admission).await?;
        }
        self.ctx
            .engine
            .submit(service_id, alerts, admission)
            .await
            .map_err(engine_status)
    }

    async fn ingest(
        &self,
        principal: &Principal,
        service_id: &str,
        inputs: &[pb::AlertInput],
        field: impl Fn(usize) -> String,
    ) -> Result<IngestReport, Status> {
        self.submit(principal, service_id, inputs, field, Admission::Immediate)
            .await?
            .committed()
            .await
            .map_err(engine_status)
    }

    /// Refuses a key over its rate, or, for a stream, waits for its allowance (up to
    /// the admission wait) so the stream slows down instead of ending.
    async fn flood_guard(
        &self,
        key_id: Uuid,
        alerts: usize,
        admission: Admission,
    ) -> Result<(), Status> {
        let started = tokio::time::Instant::now();
        loop {
            let wait = match self.ctx.flood_guard.check(key_id, alerts) {
                Ok(()) => return Ok(()),
                Err(wait) => wait,
            };
            match admission {
                Admission::Wait(limit) if started.elapsed() + wait <= limit => {
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    self.ctx
                        .engine
                        .metrics()
                        .rejected(crate::telemetry::Rejection::FloodGuard, alerts);
                    return Err(Status::resource_exhausted(format!(
                        "this integration key is over its rate; retry in {} ms",
                        wait.as_millis().max(1)
                    )));
                }
            }
        }
    }

    /// Who a command is recorded as: the named user (who must exist) or the caller.
    async fn actor(&self, principal: &Principal, user_id: &str) -> Result<String, Status> {
        if user_id.is_empty() {
            return match principal {
                Principal::User { user_id, .. } => Ok(user_id.to_string()),
                Principal::Integration { .. } => Err(Status::invalid_argument("user_id: required")),
            };
        }
        let id = parse_id("user_id", user_id)?;
        self.ctx
            .store
            .get_user(id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("user_id: no user {id}")))?;
        Ok(id.to_string())
    }

    async fn full_alert(&self, id: Uuid) -> Result<pb::Alert, Status> {
        let alert = self
            .ctx
            .store
            .get_alert(id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("alert {id} not found")))?;
        let timeline = self
            .ctx
            .store
            .alert_timeline(id)
            .await
            .map_err(store_status)?;
        Ok(convert::alert_to_pb(&alert, &timeline))
    }

    async fn run(&self, id: &str, command: Command) -> Result<pb::Alert, Status> {
        let id = parse_id("id", id)?;
        self.ctx
            .engine
            .command(id, command)
            .await
            .map_err(engine_status)?;
        self.full_alert(id).await
    }

    async fn bulk(
        &self,
        ids: &[String],
        command: impl Fn() -> Command,
    ) -> Result<pb::BulkAlertsResponse, Status> {
        if ids.is_empty() {
            return Err(Status::invalid_argument("ids: required"));
        }
        if ids.len() > 1000 {
            return Err(Status::invalid_argument("ids: at most 1000 per call"));
        }
        let parsed = ids
            .iter()
            .enumerate()
            .map(|(i, id)| parse_id(&format!("ids[{i}]"), id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut response = pb::BulkAlertsResponse::default();
        for id in parsed {
            match self.ctx.engine.command(id, command()).await {
                Ok(alert) => response.alerts.push(convert::alert_to_pb(&alert, &[])),
                Err(EngineError::Overloaded) => {
                    return Err(engine_status(EngineError::Overloaded));
                }
                Err(error) => response.failures.push(pb::BulkFailure {
                    id: id.to_string(),
                    error: error.to_string(),
                }),
            }
        }
        Ok(response)
    }
}

fn counts(report: &IngestReport) -> (i32, i32, i32) {
    let count = |outcome| {
        report
            .results
            .iter()
            .filter(|r| r.outcome == outcome)
            .count() as i32
    };
    (
        count(IngestOutcome::Created),
        count(IngestOutcome::Deduplicated),
        count(IngestOutcome::Resolved),
    )
}

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AlertService for AlertApi {
    async fn create_alert(
        &self,
        request: Request<pb::CreateAlertRequest>,
    ) -> Result<Response<pb::CreateAlertResponse>, Status> {
        let principal = self.ctx.authorize(&request, Action::Ingest).await?;
        let body = request.into_inner();
        let input = body
            .alert
            .ok_or_else(|| Status::invalid_argument("alert: required"))?;
        let report = self
            .ingest(
                &principal,
                &body.service_id,
                std::slice::from_ref(&input),
                |_| "alert".to_string(),
            )
            .await?;
        let Some(result) = report.results.into_iter().next() else {
            return Err(Status::internal("the engine returned no result"));
        };
        let alert = match &result.alert {
            Some(alert) => Some(self.full_alert(alert.id).await?),
            None => None,
        };
        Ok(Response::new(pb::CreateAlertResponse {
            alert,
            deduplicated: result.outcome == IngestOutcome::Deduplicated,
        }))
    }

    async fn batch_create_alerts(
        &self,
        request: Request<pb::BatchCreateAlertsRequest>,
    ) -> Result<Response<pb::BatchCreateAlertsResponse>, Status> {
        let principal = self.ctx.authorize(&request, Action::Ingest).await?;
        let body = request.into_inner();
        let report = self
            .ingest(&principal, &body.service_id, &body.alerts, |i| {
                format!("alerts[{i}]")
            })
            .await?;
        let (created, deduplicated, resolved) = counts(&report);
        Ok(Response::new(pb::BatchCreateAlertsResponse {
            results: report
                .results
                .iter()
                .map(|r| pb::AlertOutcome {
                    alert_id: r
                        .alert
                        .as_ref()
                        .map(|a| a.id.to_string())
                        .unwrap_or_default(),
                    number: r.alert.as_ref().map_or(0, |a| a.number),
                    fingerprint: r
                        .alert
                        .as_ref()
                        .map(|a| a.key.fingerprint.clone())
                        .unwrap_or_default(),
                    deduplicated: r.outcome == IngestOutcome::Deduplicated,
                })
                .collect(),
            created,
            deduplicated,
            resolved,
        }))
    }

    type IngestAlertsStream = Boxed<pb::IngestAlertsResponse>;

    async fn ingest_alerts(
        &self,
        request: Request<Streaming<pb::IngestAlertsRequest>>,
    ) -> Result<Response<Self::IngestAlertsStream>, Status> {
        let principal = self.ctx.authorize(&request, Action::Ingest).await?;
        let api = self.clone();
        // Batches are decided one after another (`then`), so a resolve never overtakes
        // the firing it follows, while the commits of up to STREAM_PIPELINE batches are
        // awaited together (`buffered`). At shutdown the stream stops taking batches and
        // finishes the ones in flight.
        let acks = request
            .into_inner()
            .take_until(self.ctx.shutdown.clone().cancelled_owned())
            .then(move |batch| {
                let api = api.clone();
                let principal = principal.clone();
                async move {
                    let batch = batch?;
                    let pending = api
                        .submit(
                            &principal,
                            &batch.service_id,
                            &batch.alerts,
                            |i| format!("batch {}: alerts[{i}]", batch.batch_id),
                            Admission::Wait(STREAM_ADMISSION_WAIT),
                        )
                        .await?;
                    Ok::<_, Status>((batch.batch_id, pending))
                }
            })
            .map(|submitted| async move {
                let (batch_id, pending) = submitted?;
                let report = pending.committed().await.map_err(engine_status)?;
                let (created, deduplicated, resolved) = counts(&report);
                Ok(pb::IngestAlertsResponse {
                    batch_id,
                    accepted: report.results.len() as i32,
                    created,
                    deduplicated,
                    resolved,
                })
            })
            .buffered(STREAM_PIPELINE);
        Ok(Response::new(Box::pin(acks)))
    }

    async fn get_alert(
        &self,
        request: Request<pb::GetAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.full_alert(id).await?))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let mut query = AlertQuery {
            limit,
            offset,
            sources: body.sources,
            labels: body.label_selectors.into_iter().collect::<BTreeMap<_, _>>(),
            search: Some(body.search).filter(|s| !s.is_empty()),
            ..AlertQuery::default()
        };
        for (i, status) in body.statuses.iter().enumerate() {
            query
                .statuses
                .push(convert::status_from_pb(&format!("statuses[{i}]"), *status)?);
        }
        for (i, severity) in body.severities.iter().enumerate() {
            let field = format!("severities[{i}]");
            let severity = convert::severity_from_pb(&field, *severity)?
                .ok_or_else(|| Status::invalid_argument(format!("{field}: unspecified")))?;
            query.severities.push(severity);
        }
        if !body.service_id.is_empty() {
            query.service_id = Some(parse_id("service_id", &body.service_id)?);
        }
        if let Some(range) = &body.triggered {
            query.triggered_from = range
                .start
                .as_ref()
                .map(|t| convert::instant("triggered.start", t))
                .transpose()?;
            query.triggered_to = range
                .end
                .as_ref()
                .map(|t| convert::instant("triggered.end", t))
                .transpose()?;
        }
        let found = self
            .ctx
            .store
            .list_alerts(&query)
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::ListAlertsResponse {
            next_page_token: super::next_token(offset, found.items.len(), limit, found.total),
            alerts: found
                .items
                .iter()
                .map(|a| convert::alert_to_pb(a, &[]))
                .collect(),
            total_count: i32::try_from(found.total).unwrap_or(i32::MAX),
        }))
    }

    async fn update_alert(
        &self,
        request: Request<pb::UpdateAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let by = self.actor(&principal, &body.user_id).await?;
        if body.update_mask.is_empty() {
            return Err(Status::invalid_argument(
                "update_mask: name the fields to change (summary, details, severity, labels, annotations)",
            ));
        }
        let mut changes = AlertChanges::default();
        for (i, field) in body.update_mask.iter().enumerate() {
            match field.as_str() {
                "summary" if body.summary.trim().is_empty() => {
                    return Err(Status::invalid_argument("summary: must not be empty"));
                }
                "summary" => changes.summary = Some(body.summary.clone()),
                "details" => changes.details = Some(body.details.clone()),
                "severity" => {
                    changes.severity = Some(
                        convert::severity_from_pb("severity", body.severity)?
                            .ok_or_else(|| Status::invalid_argument("severity: unspecified"))?,
                    );
                }
                "labels" => changes.labels = Some(body.labels.clone().into_iter().collect()),
                "annotations" => {
                    changes.annotations = Some(body.annotations.clone().into_iter().collect());
                }
                other => {
                    return Err(Status::invalid_argument(format!(
                        "update_mask[{i}]: unknown field {other:?}"
                    )));
                }
            }
        }
        Ok(Response::new(
            self.run(&body.id, Command::Update { by, changes }).await?,
        ))
    }

    async fn acknowledge_alert(
        &self,
        request: Request<pb::AcknowledgeAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let by = self.actor(&principal, &body.user_id).await?;
        let note = Some(body.note).filter(|n| !n.is_empty());
        Ok(Response::new(
            self.run(&body.id, Command::Acknowledge { by, note })
                .await?,
        ))
    }

    async fn resolve_alert(
        &self,
        request: Request<pb::ResolveAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let by = self.actor(&principal, &body.user_id).await?;
        let note = Some(body.resolution_note).filter(|n| !n.is_empty());
        Ok(Response::new(
            self.run(&body.id, Command::Resolve { by, note }).await?,
        ))
    }

    async fn escalate_alert(
        &self,
        request: Request<pb::EscalateAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let by = self.actor(&principal, &body.user_id).await?;
        let alert = self
            .run(
                &body.id,
                Command::Escalate {
                    by,
                    reason: body.reason,
                },
            )
            .await?;
        // Recorded first, then the alert's chains fire their pending steps now.
        if let Ok(id) = uuid::Uuid::parse_str(&alert.id) {
            self.ctx.escalations.escalate_now(id);
        }
        Ok(Response::new(alert))
    }

    async fn add_note(
        &self,
        request: Request<pb::AddNoteRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        if body.text.trim().is_empty() {
            return Err(Status::invalid_argument("text: required"));
        }
        if body.text.len() > self.ctx.limits.max_annotation_value_bytes {
            return Err(Status::invalid_argument(format!(
                "text: at most {} bytes",
                self.ctx.limits.max_annotation_value_bytes
            )));
        }
        let author = self.actor(&principal, &body.user_id).await?;
        Ok(Response::new(
            self.run(
                &body.id,
                Command::AddNote {
                    author,
                    text: body.text,
                },
            )
            .await?,
        ))
    }

    async fn get_alert_events(
        &self,
        request: Request<pb::GetAlertEventsRequest>,
    ) -> Result<Response<pb::GetAlertEventsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        let alert = self.full_alert(id).await?;
        Ok(Response::new(pb::GetAlertEventsResponse {
            events: alert.events,
        }))
    }

    async fn bulk_acknowledge_alerts(
        &self,
        request: Request<pb::BulkAcknowledgeAlertsRequest>,
    ) -> Result<Response<pb::BulkAlertsResponse>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let by = self.actor(&principal, &body.user_id).await?;
        let note = Some(body.note).filter(|n| !n.is_empty());
        let response = self
            .bulk(&body.ids, || Command::Acknowledge {
                by: by.clone(),
                note: note.clone(),
            })
            .await?;
        Ok(Response::new(response))
    }

    async fn bulk_resolve_alerts(
        &self,
        request: Request<pb::BulkResolveAlertsRequest>,
    ) -> Result<Response<pb::BulkAlertsResponse>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let by = self.actor(&principal, &body.user_id).await?;
        let note = Some(body.resolution_note).filter(|n| !n.is_empty());
        let response = self
            .bulk(&body.ids, || Command::Resolve {
                by: by.clone(),
                note: note.clone(),
            })
            .await?;
        Ok(Response::new(response))
    }

    type WatchAlertsStream = Boxed<pb::AlertChange>;

    async fn watch_alerts(
        &self,
        request: Request<pb::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let service = match request.get_ref().service_id.as_str() {
            "" => None,
            id => Some(parse_id("service_id", id)?),
        };
        let changes = BroadcastStream::new(self.ctx.engine.watch())
            .take_until(self.ctx.shutdown.clone().cancelled_owned())
            .filter_map(move |change| {
                let item = match change {
                    Ok(change) if service.is_none_or(|s| s == change.alert.key.service_id) => {
                        Some(Ok(convert::change_to_pb(&change)))
                    }
                    Ok(_) => None,
                    Err(lagged) => {
                        // A watcher too slow for a storm skips ahead rather than holding memory.
                        tracing::warn!(%lagged, "a WatchAlerts client fell behind");
                        None
                    }
                };
                std::future::ready(item)
            });
        Ok(Response::new(Box::pin(changes)))
    }
}
