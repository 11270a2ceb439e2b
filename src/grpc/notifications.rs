//! `notification.v1.NotificationService`: send a templated message to destinations or
//! users, and see what became of every delivery. A request id makes a send idempotent:
//! repeating it answers with the deliveries the first one made.

use std::collections::HashSet;

use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::pb::notification::v1 as pb;
use super::pb::notification::v1::notification_service_server::NotificationService;
use super::templates::{channel_to_pb, kind_of_context, struct_to_json};
use super::{Context, convert, invalid, next_token, page, parse_id, store_status};
use crate::definitions::template::{channel_from_pb, load};
use crate::directory::Directory;
use crate::domain::access::Action;
use crate::domain::notify::channel::Channel;
use crate::domain::notify::context::alert_context;
use crate::domain::notify::message::Priority;
use crate::notify::notifier::{Notifier, pageable};
use crate::notify::outgoing::{Outgoing, Request as Outbound, meta_of_context};
use crate::store::{DeliveryQuery, StoreError, StoredDelivery};

pub struct NotificationApi {
    ctx: Context,
    notifier: Notifier,
    directory: Directory,
}

impl NotificationApi {
    pub fn new(ctx: Context, notifier: Notifier, directory: Directory) -> NotificationApi {
        NotificationApi {
            ctx,
            notifier,
            directory,
        }
    }
}

fn state_to_pb(state: &str) -> pb::DeliveryState {
    match state {
        "pending" => pb::DeliveryState::Pending,
        "sent" => pb::DeliveryState::Sent,
        "delivered" => pb::DeliveryState::Delivered,
        "failed" => pb::DeliveryState::Failed,
        "retrying" => pb::DeliveryState::Retrying,
        "dropped" => pb::DeliveryState::Dropped,
        _ => pb::DeliveryState::Unspecified,
    }
}

fn state_name(state: pb::DeliveryState) -> Option<&'static str> {
    match state {
        pb::DeliveryState::Pending => Some("pending"),
        pb::DeliveryState::Sent => Some("sent"),
        pb::DeliveryState::Delivered => Some("delivered"),
        pb::DeliveryState::Failed => Some("failed"),
        pb::DeliveryState::Retrying => Some("retrying"),
        pb::DeliveryState::Dropped => Some("dropped"),
        pb::DeliveryState::Unspecified => None,
    }
}

fn delivery_to_pb(d: &StoredDelivery, attempts: Vec<pb::DeliveryAttempt>) -> pb::DeliveryStatus {
    pb::DeliveryStatus {
        id: d.id.to_string(),
        request_id: d.request_id.clone(),
        destination: Some(pb::Destination {
            user_id: d.user_id.map(|u| u.to_string()).unwrap_or_default(),
            channel: Channel::parse(&d.channel).map_or(pb::ChannelType::Unspecified, channel_to_pb)
                as i32,
            channel_address: d.address.clone(),
        }),
        state: state_to_pb(&d.state) as i32,
        kind: d.kind.clone(),
        priority: d.priority,
        alert_id: d.alert_id.map(|a| a.to_string()).unwrap_or_default(),
        template_id: d.template_id.map(|t| t.to_string()).unwrap_or_default(),
        template_version: d.template_version,
        attempts: d.attempts,
        last_error: d.last_error.clone(),
        merged_into: d.merged_into.map(|m| m.to_string()).unwrap_or_default(),
        created_at: Some(convert::timestamp(d.created_at)),
        updated_at: Some(convert::timestamp(d.updated_at)),
        attempt_log: attempts,
    }
}

impl NotificationApi {
    async fn of_request(&self, request_id: &str) -> Result<Vec<StoredDelivery>, Status> {
        Ok(self
            .ctx
            .store
            .list_deliveries(&DeliveryQuery {
                request_id: Some(request_id.to_string()),
                limit: 10_000,
                ..DeliveryQuery::default()
            })
            .await
            .map_err(store_status)?
            .items)
    }

    /// Each destination the request names, resolved to (channel, address, user).
    async fn destinations(
        &self,
        body: &pb::SendNotificationRequest,
    ) -> Result<Vec<(Channel, String, Option<Uuid>)>, Status> {
        let mut out = Vec::new();
        for (index, destination) in body.destinations.iter().enumerate() {
            let at = format!("destinations[{index}]");
            let channel = channel_from_pb(destination.channel)
                .ok_or_else(|| invalid(format!("{at}.channel"), "required"))?;
            let address = destination.channel_address.trim().to_string();
            if !address.is_empty() {
                channel
                    .check_address(&address)
                    .map_err(|why| invalid(format!("{at}.channel_address"), why))?;
            }
            if destination.user_id.is_empty() {
                if address.is_empty() {
                    return Err(invalid(
                        format!("{at}.channel_address"),
                        "required without a user_id",
                    ));
                }
                out.push((channel, address, None));
                continue;
            }
            let user = parse_id(&format!("{at}.user_id"), &destination.user_id)?;
            let methods = self.methods_of(user, &format!("{at}.user_id")).await?;
            let matching: Vec<String> = pageable(&methods)
                .into_iter()
                .filter(|(c, m)| *c == channel && (address.is_empty() || m.address == address))
                .map(|(_, m)| m.address.clone())
                .collect();
            if matching.is_empty() {
                return Err(Status::failed_precondition(format!(
                    "{at}: user {user} has no verified {} contact method{}; a method receives messages once its code is confirmed",
                    channel.as_str(),
                    if address.is_empty() {
                        String::new()
                    } else {
                        format!(" at {address}")
                    }
                )));
            }
            out.extend(matching.into_iter().map(|a| (channel, a, Some(user))));
        }
        for (index, user_id) in body.user_ids.iter().enumerate() {
            let field = format!("user_ids[{index}]");
            let user = parse_id(&field, user_id)?;
            let methods = self.methods_of(user, &field).await?;
            let reachable = pageable(&methods);
            if reachable.is_empty() {
                return Err(Status::failed_precondition(format!(
                    "{field}: user {user} has no verified contact method a provider can reach"
                )));
            }
            out.extend(
                reachable
                    .into_iter()
                    .map(|(c, m)| (c, m.address.clone(), Some(user))),
            );
        }
        let mut seen = HashSet::new();
        out.retain(|(c, a, _)| seen.insert((*c, a.clone())));
        Ok(out)
    }

    async fn methods_of(
        &self,
        user: Uuid,
        field: &str,
    ) -> Result<Vec<crate::domain::directory::ContactMethod>, Status> {
        let unavailable = |e: crate::directory::DirectoryError| Status::unavailable(e.to_string());
        if self
            .directory
            .user(user)
            .await
            .map_err(unavailable)?
            .is_none()
        {
            return Err(Status::not_found(format!("{field}: user {user} not found")));
        }
        self.directory
            .contact_methods(user)
            .await
            .map_err(unavailable)
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    async fn send_notification(
        &self,
        request: Request<pb::SendNotificationRequest>,
    ) -> Result<Response<pb::SendNotificationResponse>, Status> {
        self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let request_id = if body.request_id.trim().is_empty() {
            Uuid::new_v4().to_string()
        } else {
            body.request_id.trim().to_string()
        };
        if request_id.len() > 200 {
            return Err(invalid("request_id", "at most 200 characters"));
        }
        let earlier = self.of_request(&request_id).await?;
        if !earlier.is_empty() {
            return Ok(Response::new(pb::SendNotificationResponse {
                request_id,
                deliveries: earlier
                    .iter()
                    .map(|d| delivery_to_pb(d, Vec::new()))
                    .collect(),
            }));
        }
        let template_id = parse_id("template_id", &body.template_id)?;
        if body.template_version < 0 {
            return Err(invalid("template_version", "must not be negative"));
        }
        let version = (body.template_version > 0).then_some(body.template_version);
        let (template, def) = load(self.ctx.store.as_ref(), template_id, version)
            .await?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "template_id: template {template_id} (version {}) not found",
                    body.template_version
                ))
            })?;
        let priority = match body.priority {
            0 => Priority::Normal,
            value => {
                Priority::from_i32(value).ok_or_else(|| invalid("priority", "not a priority"))?
            }
        };
        let mut context = body
            .render_context
            .as_ref()
            .map(struct_to_json)
            .unwrap_or_else(|| serde_json::json!({}));
        if !body.alert_id.is_empty() {
            let alert_id = parse_id("alert_id", &body.alert_id)?;
            let alert = self
                .ctx
                .store
                .get_alert(alert_id)
                .await
                .map_err(store_status)?
                .ok_or_else(|| {
                    Status::not_found(format!("alert_id: alert {alert_id} not found"))
                })?;
            if let (Some(given), serde_json::Value::Object(about)) =
                (context.as_object_mut(), alert_context(&alert))
            {
                for (key, value) in about {
                    given.entry(key).or_insert(value);
                }
            }
        }
        let destinations = self.destinations(&body).await?;
        if destinations.is_empty() {
            return Err(invalid("destinations", "give destinations or user_ids"));
        }
        let mut requests = Vec::with_capacity(destinations.len());
        for (channel, address, user_id) in destinations {
            let content = def
                .render(channel, &context, self.notifier.budget)
                .map_err(|e| {
                    invalid(
                        "render_context",
                        format!("{} template: {e}", channel.as_str()),
                    )
                })?;
            requests.push(Outbound {
                request_id: request_id.clone(),
                priority,
                channel,
                address,
                user_id,
                template: Some((template_id, template.version)),
                message: Outgoing::new(
                    kind_of_context(&context),
                    content,
                    meta_of_context(&context),
                ),
            });
        }
        let deliveries = match self.notifier.submit_durable(&requests).await {
            Ok(records) => records,
            // The same request id, sent twice at once: answer with the first.
            Err(StoreError::Conflict(_)) => self.of_request(&request_id).await?,
            Err(e) => return Err(store_status(e)),
        };
        Ok(Response::new(pb::SendNotificationResponse {
            request_id,
            deliveries: deliveries
                .iter()
                .map(|d| delivery_to_pb(d, Vec::new()))
                .collect(),
        }))
    }

    async fn get_delivery_status(
        &self,
        request: Request<pb::GetDeliveryStatusRequest>,
    ) -> Result<Response<pb::GetDeliveryStatusResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let deliveries = match (body.delivery_id.is_empty(), body.request_id.is_empty()) {
            (false, true) => {
                let id = parse_id("delivery_id", &body.delivery_id)?;
                let found = self
                    .ctx
                    .store
                    .get_delivery(id)
                    .await
                    .map_err(store_status)?;
                vec![found.ok_or_else(|| Status::not_found(format!("delivery {id} not found")))?]
            }
            (true, false) => {
                let found = self.of_request(&body.request_id).await?;
                if found.is_empty() {
                    return Err(Status::not_found(format!(
                        "no deliveries for request {:?}",
                        body.request_id
                    )));
                }
                found
            }
            _ => return Err(invalid("delivery_id", "give delivery_id or request_id")),
        };
        let mut out = Vec::with_capacity(deliveries.len());
        for delivery in &deliveries {
            let attempts = self
                .ctx
                .store
                .delivery_attempts(delivery.id)
                .await
                .map_err(store_status)?
                .into_iter()
                .map(|a| pb::DeliveryAttempt {
                    attempt: a.attempt,
                    at: Some(convert::timestamp(a.at)),
                    outcome: a.outcome,
                    http_status: a.http_status,
                    error: a.error,
                })
                .collect();
            out.push(delivery_to_pb(delivery, attempts));
        }
        Ok(Response::new(pb::GetDeliveryStatusResponse {
            deliveries: out,
        }))
    }

    async fn list_delivery_status(
        &self,
        request: Request<pb::ListDeliveryStatusRequest>,
    ) -> Result<Response<pb::ListDeliveryStatusResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let alert_id = if body.alert_id.is_empty() {
            None
        } else {
            Some(parse_id("alert_id", &body.alert_id)?)
        };
        let state = pb::DeliveryState::try_from(body.state)
            .map_err(|_| invalid("state", "not a delivery state"))?;
        let channel = match body.channel {
            0 => None,
            value => {
                Some(channel_from_pb(value).ok_or_else(|| invalid("channel", "not a channel"))?)
            }
        };
        let listed = self
            .ctx
            .store
            .list_deliveries(&DeliveryQuery {
                alert_id,
                request_id: None,
                state: state_name(state).map(str::to_string),
                channel: channel.map(|c| c.as_str().to_string()),
                limit,
                offset,
            })
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::ListDeliveryStatusResponse {
            next_page_token: next_token(offset, listed.items.len(), limit, listed.total),
            deliveries: listed
                .items
                .iter()
                .map(|d| delivery_to_pb(d, Vec::new()))
                .collect(),
        }))
    }
}
