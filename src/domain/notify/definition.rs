//! A template as the renderer sees it: content per channel and declared variables,
//! plus what rendering and validating one means. The built-in default template is what
//! alerts go out with when a rule or policy names none.

use std::collections::BTreeMap;

use serde_json::Value;

use super::channel::Channel;
use super::context::sample_alert_context;
use super::format::{self, Content, Meta};
use super::template::{self, Budget, Escape, RenderError};

/// One channel's content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelContent {
    pub content: String,
    /// Email subject template.
    pub subject: Option<String>,
    /// Email HTML template, rendered with HTML escaping.
    pub html: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub required: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateDef {
    pub channels: BTreeMap<Channel, ChannelContent>,
    pub variables: Vec<Variable>,
}

/// Names every alert context has (see `context::alert_context`).
pub const ALERT_CONTEXT: [&str; 3] = ["alert", "enrichment", "links"];

/// A problem a validation found, with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub field: String,
    pub message: String,
    pub channel: Option<Channel>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

impl TemplateDef {
    /// The built-in template: severity, number, summary, details and site, shaped for
    /// each channel.
    pub fn default_for_alerts() -> TemplateDef {
        let chat = "*[{{ alert.severity|upper }}] #{{ alert.number }} {{ alert.summary }}*\n\
            {% if alert.details %}{{ alert.details|truncate(1500) }}\n{% endif %}\
            {% if enrichment.site|default('') %}Site: {{ enrichment.site }}{% if enrichment.region|default('') %} ({{ enrichment.region }}){% endif %}\n{% endif %}\
            Status: {{ alert.status }} · triggered {{ alert.triggered_at|time('UTC') }}";
        let mut channels = BTreeMap::new();
        for channel in [Channel::Slack, Channel::Teams, Channel::Webhook] {
            channels.insert(
                channel,
                ChannelContent {
                    content: chat.into(),
                    ..ChannelContent::default()
                },
            );
        }
        channels.insert(
            Channel::Email,
            ChannelContent {
                content: chat.into(),
                subject: Some(
                    "[{{ alert.severity|upper }}] #{{ alert.number }} {{ alert.summary }}".into(),
                ),
                html: None,
            },
        );
        channels.insert(
            Channel::Sms,
            ChannelContent {
                content: "#{{ alert.number }} {{ alert.severity|upper }}: {{ alert.summary }}. Reply 'ack {{ alert.number }}' or 'resolve {{ alert.number }}'".into(),
                ..ChannelContent::default()
            },
        );
        channels.insert(
            Channel::Voice,
            ChannelContent {
                content: "This is oncall. Alert number {{ alert.number }}, severity {{ alert.severity }}: {{ alert.summary }}.".into(),
                ..ChannelContent::default()
            },
        );
        TemplateDef {
            channels,
            variables: Vec::new(),
        }
    }

    /// The content for `channel`: its own, or failing that the webhook's, Slack's, or
    /// any, so a one-channel template still reaches other channels.
    pub fn content_for(&self, channel: Channel) -> Option<&ChannelContent> {
        self.channels
            .get(&channel)
            .or_else(|| self.channels.get(&Channel::Webhook))
            .or_else(|| self.channels.get(&Channel::Slack))
            .or_else(|| self.channels.values().next())
    }

    /// Renders the content for `channel` from `context`.
    pub fn render(
        &self,
        channel: Channel,
        context: &Value,
        budget: Budget,
    ) -> Result<Content, RenderError> {
        let Some(source) = self.content_for(channel) else {
            return Err(RenderError::Failed("the template has no content".into()));
        };
        for variable in self.variables.iter().filter(|v| v.required) {
            if context.get(&variable.name).is_none_or(Value::is_null) {
                return Err(RenderError::Undefined {
                    message: format!("required variable {:?} is missing", variable.name),
                    line: None,
                });
            }
        }
        let text = template::render(&source.content, context, budget, Escape::None)?;
        let subject = match &source.subject {
            Some(subject) => template::render(subject, context, budget, Escape::None)?,
            None => String::new(),
        };
        let html = match &source.html {
            Some(html) => Some(template::render(html, context, budget, Escape::Html)?),
            None => None,
        };
        Ok(Content {
            text,
            subject,
            html,
        })
    }

    /// Checks syntax, names the template reads that nothing provides, renders each
    /// channel from `sample` (budget overruns, output size) and formats it (channel
    /// limits).
    ///
    /// Without sample data, each channel is rendered from the built-in sample alert
    /// (declared variables standing in as their names), so a runaway loop or an
    /// oversized output is found before the template is saved. What that sample lacks
    /// (a label the real alerts carry, say) is a warning there, not an error.
    pub fn validate(&self, sample: &Value, budget: Budget) -> Validation {
        let mut validation = Validation::default();
        let given = sample.as_object().is_some_and(|m| !m.is_empty());
        let builtin;
        let context = if given {
            sample
        } else {
            builtin = self.builtin_sample();
            &builtin
        };
        if self.channels.is_empty() {
            validation.errors.push(Issue {
                field: "channels".into(),
                message: "at least one channel's content is required".into(),
                channel: None,
            });
        }
        let provided: Vec<String> = match sample.as_object() {
            Some(map) if !map.is_empty() => map.keys().cloned().collect(),
            _ => self
                .variables
                .iter()
                .map(|v| v.name.clone())
                .chain(ALERT_CONTEXT.iter().map(|n| n.to_string()))
                .collect(),
        };
        for (index, (channel, content)) in self.channels.iter().enumerate() {
            let field = format!("channels[{index}]");
            let sources = [
                ("content", Some(&content.content)),
                ("metadata.subject", content.subject.as_ref()),
                ("metadata.html", content.html.as_ref()),
            ];
            let mut parsed = true;
            for (part, source) in sources {
                let Some(source) = source else { continue };
                match template::variables(source) {
                    Ok(names) => {
                        for name in names.iter().filter(|n| !provided.contains(n)) {
                            validation.errors.push(Issue {
                                field: format!("{field}.{part}"),
                                message: format!("undefined variable {name:?}: neither declared nor in the sample data"),
                                channel: Some(*channel),
                            });
                        }
                    }
                    Err(error) => {
                        parsed = false;
                        validation.errors.push(Issue {
                            field: format!("{field}.{part}"),
                            message: error.to_string(),
                            channel: Some(*channel),
                        });
                    }
                }
            }
            if !parsed {
                continue;
            }
            match self.render(*channel, context, budget) {
                Ok(rendered) => {
                    let formatted =
                        format::format(*channel, "validation", &rendered, &Meta::default());
                    if formatted.truncated {
                        validation.warnings.push(Issue {
                            field: format!("{field}.content"),
                            message: format!(
                                "the rendered text exceeds what {} takes and will be cut",
                                channel.as_str()
                            ),
                            channel: Some(*channel),
                        });
                    }
                }
                Err(error) => {
                    // Only a name the sample lacks depends on the sample; a runaway loop,
                    // an oversized output or a failing operation fails on real alerts too.
                    let sample_dependent = matches!(error, RenderError::Undefined { .. });
                    let issue = Issue {
                        field: format!("{field}.content"),
                        message: if given {
                            error.to_string()
                        } else {
                            format!("rendering the built-in sample alert: {error}")
                        },
                        channel: Some(*channel),
                    };
                    if given || !sample_dependent {
                        validation.errors.push(issue);
                    } else {
                        validation.warnings.push(issue);
                    }
                }
            }
        }
        validation
    }

    /// The built-in sample alert, with each declared variable given its own name as a
    /// value.
    fn builtin_sample(&self) -> Value {
        let mut context = sample_alert_context();
        if let Some(map) = context.as_object_mut() {
            for variable in &self.variables {
                map.entry(variable.name.clone())
                    .or_insert_with(|| Value::String(variable.name.clone()));
            }
        }
        context
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        json!({"alert": {"number": 7, "summary": "BGP down", "severity": "critical",
                         "details": "", "status": "triggered", "triggered_at": "2026-01-01T00:00:00Z"},
               "enrichment": {"site": "IAD1", "region": "us-east"}, "links": {}})
    }

    #[test]
    fn without_sample_data_a_runaway_template_is_found_on_the_builtin_sample() {
        for (runaway, why) in [
            (
                "{% for i in range(100000000) %}x{% endfor %}",
                "too many elements",
            ),
            (
                "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
                "budget",
            ),
        ] {
            let mut def = TemplateDef::default();
            def.channels.insert(
                Channel::Slack,
                ChannelContent {
                    content: runaway.into(),
                    ..ChannelContent::default()
                },
            );
            let validation = def.validate(&json!({}), Budget::default());
            assert_eq!(validation.errors.len(), 1, "{runaway}: {validation:?}");
            assert!(
                validation.errors[0].message.contains(why),
                "{runaway}: {validation:?}"
            );
        }
    }

    #[test]
    fn without_sample_data_the_default_template_is_valid_and_a_missing_label_warns() {
        let validation = TemplateDef::default_for_alerts().validate(&json!({}), Budget::default());
        assert!(validation.errors.is_empty(), "{validation:?}");
        assert!(validation.warnings.is_empty(), "{validation:?}");

        let mut def = TemplateDef::default();
        def.channels.insert(
            Channel::Sms,
            ChannelContent {
                content: "{{ alert.labels.circuit_id }} down".into(),
                ..ChannelContent::default()
            },
        );
        let validation = def.validate(&json!({}), Budget::default());
        assert!(validation.errors.is_empty(), "{validation:?}");
        assert_eq!(validation.warnings.len(), 1, "{validation:?}");
    }

    #[test]
    fn the_default_template_renders_every_channel() {
        let def = TemplateDef::default_for_alerts();
        for channel in Channel::ALL {
            let content = def.render(channel, &sample(), Budget::default()).unwrap();
            assert!(
                content.text.contains("BGP down"),
                "{channel:?}: {}",
                content.text
            );
        }
        let email = def
            .render(Channel::Email, &sample(), Budget::default())
            .unwrap();
        assert_eq!(email.subject, "[CRITICAL] #7 BGP down");
        let slack = def
            .render(Channel::Slack, &sample(), Budget::default())
            .unwrap();
        assert!(
            slack.text.contains("Site: IAD1 (us-east)"),
            "{}",
            slack.text
        );
        assert!(def.validate(&sample(), Budget::default()).errors.is_empty());
    }

    #[test]
    fn validation_finds_undefined_names_syntax_budget_and_limits() {
        let mut def = TemplateDef::default();
        def.channels.insert(
            Channel::Slack,
            ChannelContent {
                content: "{{ alert.summary }} {{ runbok }}".into(),
                ..ChannelContent::default()
            },
        );
        def.channels.insert(
            Channel::Email,
            ChannelContent {
                content: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}".into(),
                subject: Some("{{ alert.summary".into()),
                html: None,
            },
        );
        def.channels.insert(
            Channel::Sms,
            ChannelContent {
                content: "{{ alert.summary }}{% for i in range(40) %} padding{% endfor %}".into(),
                ..ChannelContent::default()
            },
        );
        let validation = def.validate(&sample(), Budget::default());
        let fields: Vec<&str> = validation.errors.iter().map(|i| i.field.as_str()).collect();
        assert!(fields.contains(&"channels[0].content"), "{validation:?}");
        assert!(
            validation
                .errors
                .iter()
                .any(|i| i.message.contains("runbok"))
        );
        assert!(
            validation
                .errors
                .iter()
                .any(|i| i.field == "channels[1].metadata.subject")
        );
        assert_eq!(validation.warnings.len(), 1, "{validation:?}");
        assert_eq!(validation.warnings[0].channel, Some(Channel::Sms));

        let mut runaway = TemplateDef::default();
        runaway.channels.insert(
            Channel::Slack,
            ChannelContent {
                content: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}".into(),
                ..ChannelContent::default()
            },
        );
        let validation = runaway.validate(&sample(), Budget::default());
        assert!(
            validation.errors[0].message.contains("step budget"),
            "{validation:?}"
        );
    }

    #[test]
    fn required_variables_must_be_given() {
        let mut def = TemplateDef::default();
        def.channels.insert(
            Channel::Webhook,
            ChannelContent {
                content: "{{ runbook }}".into(),
                ..ChannelContent::default()
            },
        );
        def.variables.push(Variable {
            name: "runbook".into(),
            required: true,
        });
        let err = def
            .render(Channel::Slack, &json!({}), Budget::default())
            .unwrap_err();
        assert!(err.to_string().contains("runbook"));
        let ok = def
            .render(
                Channel::Slack,
                &json!({"runbook": "https://wiki/bgp"}),
                Budget::default(),
            )
            .unwrap();
        assert_eq!(ok.text, "https://wiki/bgp");
    }
}
