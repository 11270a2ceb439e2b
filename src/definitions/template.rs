//! Notification templates: content per channel and declared variables, checked as
//! written (syntax, metadata, names) and compiled into the renderer's [`TemplateDef`].

use prost::Message;
use uuid::Uuid;

use super::{Invalid, LoadError};
use crate::domain::notify::channel::Channel;
use crate::domain::notify::definition::{ChannelContent, TemplateDef, Variable};
use crate::domain::notify::template;
use crate::pb::notification::v1 as pb;
use crate::store::{Store, StoredTemplate};

pub fn channel_from_pb(value: i32) -> Option<Channel> {
    match pb::ChannelType::try_from(value) {
        Ok(pb::ChannelType::Webhook) => Some(Channel::Webhook),
        Ok(pb::ChannelType::Slack) => Some(Channel::Slack),
        Ok(pb::ChannelType::Teams) => Some(Channel::Teams),
        Ok(pb::ChannelType::Email) => Some(Channel::Email),
        Ok(pb::ChannelType::Sms) => Some(Channel::Sms),
        Ok(pb::ChannelType::Voice) => Some(Channel::Voice),
        _ => None,
    }
}

/// The renderer's view of a template, once every part is well formed; errors name the
/// field.
pub fn compile(template: &pb::Template) -> Result<TemplateDef, Invalid> {
    let mut def = TemplateDef::default();
    for (index, channel) in template.channels.iter().enumerate() {
        let field = format!("template.channels[{index}]");
        let kind = channel_from_pb(channel.channel)
            .ok_or_else(|| Invalid::field(format!("{field}.channel"), "required"))?;
        if channel.content.trim().is_empty() {
            return Err(Invalid::field(format!("{field}.content"), "required"));
        }
        for key in channel.metadata.keys() {
            let allowed = kind == Channel::Email && matches!(key.as_str(), "subject" | "html");
            if !allowed {
                return Err(Invalid::field(
                    format!("{field}.metadata.{key}"),
                    "unknown; email takes subject and html, other channels none",
                ));
            }
        }
        let parts = [
            ("content", Some(&channel.content)),
            ("metadata.subject", channel.metadata.get("subject")),
            ("metadata.html", channel.metadata.get("html")),
        ];
        for (part, source) in parts {
            if let Some(source) = source {
                template::variables(source)
                    .map_err(|e| Invalid::field(format!("{field}.{part}"), e))?;
            }
        }
        let content = ChannelContent {
            content: channel.content.clone(),
            subject: channel.metadata.get("subject").cloned(),
            html: channel.metadata.get("html").cloned(),
        };
        if def.channels.insert(kind, content).is_some() {
            return Err(Invalid::field(
                format!("{field}.channel"),
                format!("{} appears twice", kind.as_str()),
            ));
        }
    }
    for (index, variable) in template.variables.iter().enumerate() {
        let name = variable.name.trim();
        let identifier = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !identifier {
            return Err(Invalid::field(
                format!("template.variables[{index}].name"),
                "must be an identifier such as runbook_url",
            ));
        }
        def.variables.push(Variable {
            name: name.to_string(),
            required: variable.required,
        });
    }
    Ok(def)
}

/// A stored template version, decoded.
pub fn decode(stored: &StoredTemplate) -> Result<pb::Template, LoadError> {
    let mut template =
        pb::Template::decode(stored.body.as_slice()).map_err(|e| LoadError::Unreadable {
            noun: "stored template",
            id: stored.id,
            why: e.to_string(),
        })?;
    template.id = stored.id.to_string();
    template.version = stored.version;
    Ok(template)
}

/// A stored template and its definition; `version` None is the latest.
pub async fn load(
    store: &dyn Store,
    id: Uuid,
    version: Option<i32>,
) -> Result<Option<(pb::Template, TemplateDef)>, LoadError> {
    let Some(stored) = store.get_template(id, version).await? else {
        return Ok(None);
    };
    let template = decode(&stored)?;
    let def = compile(&template)?;
    Ok(Some((template, def)))
}
