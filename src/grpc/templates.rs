//! `notification.v1.TemplateService`: templates with content per channel, each update
//! a new immutable version. A template is compiled (`compile`) before it is stored and
//! by every reader, so what is stored always parses. RenderPreview builds the body a
//! real send would post, through the same code.

use std::collections::BTreeMap;

use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::listing::page_of;
use super::pb::notification::v1 as pb;
use super::pb::notification::v1::template_service_server::TemplateService;
use super::{Context, convert, invalid, page, parse_id, store_status};
use crate::definitions::template::{channel_from_pb, compile, decode, load};
use crate::domain::access::Action;
use crate::domain::notify::channel::Channel;
use crate::domain::notify::definition::{Issue, Validation};
use crate::domain::notify::message::Kind;
use crate::domain::notify::template::Budget;
use crate::notify::outgoing::{Outgoing, meta_of_context};
use crate::store::{StoreError, StoredTemplate};

pub struct TemplateApi {
    ctx: Context,
    budget: Budget,
}

impl TemplateApi {
    pub fn new(ctx: Context) -> TemplateApi {
        TemplateApi {
            ctx,
            budget: Budget::default(),
        }
    }
}

pub fn channel_to_pb(channel: Channel) -> pb::ChannelType {
    match channel {
        Channel::Webhook => pb::ChannelType::Webhook,
        Channel::Slack => pb::ChannelType::Slack,
        Channel::Teams => pb::ChannelType::Teams,
        Channel::Email => pb::ChannelType::Email,
        Channel::Sms => pb::ChannelType::Sms,
        Channel::Voice => pb::ChannelType::Voice,
    }
}

fn issue_to_pb(issue: &Issue) -> pb::ValidationIssue {
    pb::ValidationIssue {
        field: issue.field.clone(),
        message: issue.message.clone(),
        channel: issue
            .channel
            .map_or(pb::ChannelType::Unspecified, channel_to_pb) as i32,
    }
}

fn validation_to_pb(validation: &Validation) -> pb::ValidationResult {
    pb::ValidationResult {
        valid: validation.errors.is_empty(),
        errors: validation.errors.iter().map(issue_to_pb).collect(),
        warnings: validation.warnings.iter().map(issue_to_pb).collect(),
    }
}

/// A protobuf Struct as JSON.
pub fn struct_to_json(value: &prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        value
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(value: &prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind as K;
    match &value.kind {
        None | Some(K::NullValue(_)) => serde_json::Value::Null,
        Some(K::NumberValue(n)) => {
            // Whole numbers stay integers, so `#{{ alert.number }}` reads "#42", not "#42.0".
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                serde_json::Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
        }
        Some(K::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(K::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(K::StructValue(s)) => struct_to_json(s),
        Some(K::ListValue(l)) => {
            serde_json::Value::Array(l.values.iter().map(value_to_json).collect())
        }
    }
}

/// The kind a message rendered from `context` has: a page when it names an alert.
pub fn kind_of_context(context: &serde_json::Value) -> Kind {
    if context["alert"]["id"].is_string() {
        Kind::Page
    } else {
        Kind::Status
    }
}

impl TemplateApi {
    async fn name_is_free(&self, name: &str, except: Option<Uuid>) -> Result<(), Status> {
        let taken = self
            .ctx
            .store
            .list_templates()
            .await
            .map_err(store_status)?
            .into_iter()
            .any(|t| t.name == name && Some(t.id) != except);
        if taken {
            return Err(Status::already_exists(format!(
                "a template named {name:?} already exists"
            )));
        }
        Ok(())
    }

    async fn save(
        &self,
        mut template: pb::Template,
        id: Uuid,
        version: i32,
    ) -> Result<pb::Template, Status> {
        let now = crate::clock::now();
        template.id = id.to_string();
        template.version = version;
        template.updated_at = Some(convert::timestamp(now));
        if version == 1 {
            template.created_at = Some(convert::timestamp(now));
        }
        let stored = StoredTemplate {
            id,
            version,
            name: template.name.clone(),
            body: template.encode_to_vec(),
            created_at: now,
        };
        match self.ctx.store.insert_template_version(&stored).await {
            Ok(()) => Ok(template),
            Err(StoreError::Conflict(_)) => Err(Status::aborted(
                "template.id: updated concurrently; read it again and retry",
            )),
            Err(e) => Err(store_status(e)),
        }
    }

    fn checked_name(template: &mut pb::Template) -> Result<(), Status> {
        template.name = template.name.trim().to_string();
        if template.name.is_empty() {
            return Err(invalid("template.name", "required"));
        }
        if template.channels.is_empty() {
            return Err(invalid(
                "template.channels",
                "at least one channel's content is required",
            ));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl TemplateService for TemplateApi {
    async fn create_template(
        &self,
        request: Request<pb::CreateTemplateRequest>,
    ) -> Result<Response<pb::Template>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let mut template = request
            .into_inner()
            .template
            .ok_or_else(|| invalid("template", "required"))?;
        Self::checked_name(&mut template)?;
        compile(&template)?;
        self.name_is_free(&template.name, None).await?;
        let saved = self.save(template, Uuid::new_v4(), 1).await?;
        Ok(Response::new(saved))
    }

    async fn get_template(
        &self,
        request: Request<pb::GetTemplateRequest>,
    ) -> Result<Response<pb::Template>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let id = parse_id("id", &body.id)?;
        if body.version < 0 {
            return Err(invalid("version", "must not be negative"));
        }
        let version = (body.version > 0).then_some(body.version);
        let stored = self
            .ctx
            .store
            .get_template(id, version)
            .await
            .map_err(store_status)?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "template {id} (version {}) not found",
                    body.version
                ))
            })?;
        let mut template = decode(&stored)?;
        if let Some(first) = self
            .ctx
            .store
            .get_template(id, Some(1))
            .await
            .map_err(store_status)?
        {
            template.created_at = Some(convert::timestamp(first.created_at));
        }
        Ok(Response::new(template))
    }

    async fn update_template(
        &self,
        request: Request<pb::UpdateTemplateRequest>,
    ) -> Result<Response<pb::Template>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let mut template = request
            .into_inner()
            .template
            .ok_or_else(|| invalid("template", "required"))?;
        let id = parse_id("template.id", &template.id)?;
        Self::checked_name(&mut template)?;
        compile(&template)?;
        let latest = self
            .ctx
            .store
            .get_template(id, None)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("template {id} not found")))?;
        self.name_is_free(&template.name, Some(id)).await?;
        template.created_at = decode(&latest)?.created_at;
        let saved = self.save(template, id, latest.version + 1).await?;
        Ok(Response::new(saved))
    }

    async fn delete_template(
        &self,
        request: Request<pb::DeleteTemplateRequest>,
    ) -> Result<Response<pb::DeleteTemplateResponse>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self
            .ctx
            .store
            .delete_template(id)
            .await
            .map_err(store_status)?
        {
            return Err(Status::not_found(format!("template {id} not found")));
        }
        Ok(Response::new(pb::DeleteTemplateResponse {}))
    }

    async fn list_templates(
        &self,
        request: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let templates = self
            .ctx
            .store
            .list_templates()
            .await
            .map_err(store_status)?
            .iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        let (templates, next_page_token, _) = page_of(templates, limit, offset);
        Ok(Response::new(pb::ListTemplatesResponse {
            templates,
            next_page_token,
        }))
    }

    async fn render_preview(
        &self,
        request: Request<pb::RenderPreviewRequest>,
    ) -> Result<Response<pb::RenderPreviewResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let def = match (&body.template, body.template_id.is_empty()) {
            (Some(inline), true) => compile(inline)?,
            (None, false) => {
                let id = parse_id("template_id", &body.template_id)?;
                let version = (body.template_version > 0).then_some(body.template_version);
                load(self.ctx.store.as_ref(), id, version)
                    .await?
                    .ok_or_else(|| Status::not_found(format!("template {id} not found")))?
                    .1
            }
            (Some(_), false) => {
                return Err(invalid(
                    "template",
                    "give template_id or template, not both",
                ));
            }
            (None, true) => return Err(invalid("template_id", "required (or an inline template)")),
        };
        let sample = body
            .sample_data
            .as_ref()
            .map(struct_to_json)
            .unwrap_or_else(|| serde_json::json!({}));
        let mut channels = Vec::new();
        for (index, value) in body.channels.iter().enumerate() {
            channels.push(
                channel_from_pb(*value)
                    .ok_or_else(|| invalid(format!("channels[{index}]"), "not a channel"))?,
            );
        }
        if channels.is_empty() {
            channels = def.channels.keys().copied().collect();
        }
        let address = if body.channel_address.is_empty() {
            "preview".to_string()
        } else {
            body.channel_address.clone()
        };
        let mut previews = BTreeMap::new();
        let mut validation = def.validate(&sample, self.budget);
        for channel in channels {
            let name = channel_to_pb(channel).as_str_name().to_string();
            match def.render(channel, &sample, self.budget) {
                Ok(content) => {
                    let message = Outgoing::new(
                        kind_of_context(&sample),
                        content.clone(),
                        meta_of_context(&sample),
                    );
                    let (sent, truncated) = message.body(channel, &address);
                    previews.insert(
                        name,
                        pb::Preview {
                            channel: channel_to_pb(channel) as i32,
                            content: content.text,
                            subject: content.subject,
                            body: sent.to_text(),
                            truncated,
                        },
                    );
                }
                Err(error) => {
                    let issue = Issue {
                        field: format!("channels.{}", channel.as_str()),
                        message: error.to_string(),
                        channel: Some(channel),
                    };
                    if !validation.errors.contains(&issue) {
                        validation.errors.push(issue);
                    }
                }
            }
        }
        Ok(Response::new(pb::RenderPreviewResponse {
            previews: previews.into_iter().collect(),
            validation: Some(validation_to_pb(&validation)),
        }))
    }

    async fn validate_template(
        &self,
        request: Request<pb::ValidateTemplateRequest>,
    ) -> Result<Response<pb::ValidationResult>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let template = body
            .template
            .ok_or_else(|| invalid("template", "required"))?;
        let sample = body
            .sample_data
            .as_ref()
            .map(struct_to_json)
            .unwrap_or_else(|| serde_json::json!({}));
        // Structure problems (a missing channel, unknown metadata) are findings here,
        // not a refused request.
        let validation = match compile(&template) {
            Ok(def) => def.validate(&sample, self.budget),
            Err(invalid) => Validation {
                errors: invalid
                    .0
                    .into_iter()
                    .map(|problem| Issue {
                        field: problem.field,
                        message: problem.reason,
                        channel: None,
                    })
                    .collect(),
                warnings: Vec::new(),
            },
        };
        Ok(Response::new(validation_to_pb(&validation)))
    }
}
