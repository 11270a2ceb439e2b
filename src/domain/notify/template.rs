//! The template sandbox. Templates are Jinja-like (minijinja) and see only the context
//! they are given: the alert, its enrichment and links, or a sender's render context.
//! There is no loader (no include or import), no access to settings, secrets or the
//! environment, a step budget (fuel) that stops runaway loops, and a cap on the output.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

/// What one render may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Interpreter steps.
    pub fuel: u64,
    /// Bytes of output.
    pub max_output_bytes: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            fuel: 100_000,
            max_output_bytes: 64 * 1024,
        }
    }
}

/// Whether output is escaped for HTML (email bodies) or left as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    None,
    Html,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("syntax error{}: {message}", line.map(|l| format!(" on line {l}")).unwrap_or_default())]
    Syntax {
        message: String,
        line: Option<usize>,
    },
    #[error("undefined variable{}: {message}", line.map(|l| format!(" on line {l}")).unwrap_or_default())]
    Undefined {
        message: String,
        line: Option<usize>,
    },
    #[error("the template used up its step budget of {0} (a runaway loop?)")]
    OutOfFuel(u64),
    #[error("the output is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Failed(String),
}

/// Renders `source` with `context` inside the sandbox.
pub fn render(
    source: &str,
    context: &serde_json::Value,
    budget: Budget,
    escape: Escape,
) -> Result<String, RenderError> {
    let owned;
    let env = match shared(budget, escape) {
        Some(env) => env,
        None => {
            owned = sandbox(budget, escape);
            &owned
        }
    };
    let template = env
        .template_from_str(source)
        .map_err(|e| classify(&e, budget))?;
    let mut out = CappedWriter {
        bytes: Vec::new(),
        cap: budget.max_output_bytes,
        overflowed: false,
    };
    let result = template.render_captured_to(context, &mut out).map(|_| ());
    if out.overflowed {
        return Err(RenderError::TooLarge(budget.max_output_bytes));
    }
    result.map_err(|e| classify(&e, budget))?;
    String::from_utf8(out.bytes).map_err(|_| RenderError::Failed("output is not UTF-8".into()))
}

/// Parses `source`; on success, the top-level names it reads from its context.
pub fn variables(source: &str) -> Result<BTreeSet<String>, RenderError> {
    let env = sandbox(Budget::default(), Escape::None);
    let template = env
        .template_from_str(source)
        .map_err(|e| classify(&e, Budget::default()))?;
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    Ok(template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !globals.contains(name.as_str()))
        .collect())
}

/// The sandbox for the default budget, built once: an environment is immutable while
/// rendering (fuel is counted per render), and building one registers every filter, which
/// costs more than rendering a short template.
fn shared(budget: Budget, escape: Escape) -> Option<&'static Environment<'static>> {
    static TEXT: OnceLock<Environment<'static>> = OnceLock::new();
    static HTML: OnceLock<Environment<'static>> = OnceLock::new();
    if budget != Budget::default() {
        return None;
    }
    Some(match escape {
        Escape::None => TEXT.get_or_init(|| sandbox(budget, escape)),
        Escape::Html => HTML.get_or_init(|| sandbox(budget, escape)),
    })
}

fn sandbox(budget: Budget, escape: Escape) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(budget.fuel));
    // An undefined name is an error, so a typo is caught, not rendered as "";
    // `default` still supplies a value for a missing one.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(move |_| match escape {
        Escape::None => AutoEscape::None,
        Escape::Html => AutoEscape::Html,
    });
    env.add_filter("truncate", truncate);
    env.add_filter("time", time);
    env
}

fn classify(error: &Error, budget: Budget) -> RenderError {
    let message = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_string);
    match error.kind() {
        ErrorKind::SyntaxError | ErrorKind::BadEscape => RenderError::Syntax {
            message,
            line: error.line(),
        },
        ErrorKind::UndefinedError => RenderError::Undefined {
            message,
            line: error.line(),
        },
        ErrorKind::OutOfFuel => RenderError::OutOfFuel(budget.fuel),
        ErrorKind::WriteFailure => RenderError::TooLarge(budget.max_output_bytes),
        _ => RenderError::Failed(error.to_string()),
    }
}

/// `{{ text|truncate(50) }}`, `{{ text|truncate(50, "…") }}`: at most `length`
/// characters, the marker included.
fn truncate(value: String, length: Option<usize>, end: Option<String>) -> String {
    let length = length.unwrap_or(255);
    let end = end.unwrap_or_else(|| "...".to_string());
    if value.chars().count() <= length {
        return value;
    }
    let keep = length.saturating_sub(end.chars().count());
    let mut cut: String = value.chars().take(keep).collect();
    cut.push_str(&end);
    cut
}

/// `{{ alert.triggered_at|time("Europe/Berlin") }}`,
/// `{{ t|time("UTC", "%H:%M") }}`: an RFC 3339 time or Unix seconds, in a zone.
fn time(value: Value, zone: Option<String>, format: Option<String>) -> Result<String, Error> {
    let at: DateTime<Utc> = if let Some(text) = value.as_str() {
        DateTime::parse_from_rfc3339(text)
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("time: {text:?} is not an RFC 3339 time: {e}"),
                )
            })?
            .with_timezone(&Utc)
    } else if let Ok(seconds) = i64::try_from(value.clone()) {
        Utc.timestamp_opt(seconds, 0)
            .single()
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "time: out of range"))?
    } else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "time: expects an RFC 3339 string or Unix seconds",
        ));
    };
    let zone = zone.unwrap_or_else(|| "UTC".into());
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("time: unknown time zone {zone:?}"),
        )
    })?;
    let format = format.unwrap_or_else(|| "%Y-%m-%d %H:%M %Z".into());
    let mut out = String::new();
    use std::fmt::Write as _;
    write!(out, "{}", at.with_timezone(&tz).format(&format)).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("time: bad format {format:?}"),
        )
    })?;
    Ok(out)
}

/// Collects output, refusing to grow past its cap.
struct CappedWriter {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.cap {
            self.overflowed = true;
            return Err(std::io::Error::other("output cap reached"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> serde_json::Value {
        json!({"alert": {"summary": "BGP session down", "severity": "critical",
                         "triggered_at": "2026-03-29T00:30:00Z", "labels": {"site": "IAD1"}}})
    }

    #[test]
    fn renders_with_filters() {
        let out = render(
            "{{ alert.severity|upper }} {{ alert.summary|lower|truncate(11) }} {{ alert.runbook|default('none') }} {{ alert.triggered_at|time('Europe/Berlin', '%H:%M %Z') }}",
            &ctx(),
            Budget::default(),
            Escape::None,
        )
        .unwrap();
        assert_eq!(out, "CRITICAL bgp sess... none 01:30 CET");
    }

    #[test]
    fn the_context_is_all_a_template_sees() {
        // Names a template might try for the process environment, settings or files.
        let secret_name = "ONCALL_ADMIN_TOKEN";
        let probes = [
            "{{ env }}",
            "{{ settings }}",
            "{{ config }}",
            "{{ self.__init__ }}",
            "{% include '/etc/passwd' %}",
            "{% import 'x' as y %}",
            &format!("{{{{ {secret_name} }}}}"),
        ];
        for probe in probes {
            let err = render(probe, &ctx(), Budget::default(), Escape::None);
            assert!(err.is_err(), "{probe} rendered {err:?}");
        }
    }

    #[test]
    fn a_runaway_loop_runs_out_of_budget() {
        let err = render(
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            &ctx(),
            Budget::default(),
            Escape::None,
        )
        .unwrap_err();
        assert_eq!(err, RenderError::OutOfFuel(Budget::default().fuel));
    }

    #[test]
    fn output_is_capped() {
        let budget = Budget {
            fuel: 1_000_000,
            max_output_bytes: 1000,
        };
        let err = render(
            "{% for i in range(5000) %}xxxxxxxx{% endfor %}",
            &ctx(),
            budget,
            Escape::None,
        )
        .unwrap_err();
        assert_eq!(err, RenderError::TooLarge(1000));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(matches!(
            render("{{ alert.summary ", &ctx(), Budget::default(), Escape::None),
            Err(RenderError::Syntax { .. })
        ));
        assert!(matches!(
            render("{{ nope.x }}", &ctx(), Budget::default(), Escape::None),
            Err(RenderError::Undefined { .. })
        ));
        assert!(matches!(
            render(
                "{{ alert.summary|time('Mars/Olympus') }}",
                &ctx(),
                Budget::default(),
                Escape::None
            ),
            Err(RenderError::Failed(_))
        ));
    }

    #[test]
    fn html_escapes_only_when_asked() {
        let context = json!({"alert": {"summary": "<b>x</b> & y"}});
        let text = render(
            "{{ alert.summary }}",
            &context,
            Budget::default(),
            Escape::None,
        )
        .unwrap();
        assert_eq!(text, "<b>x</b> & y");
        let html = render(
            "{{ alert.summary }}",
            &context,
            Budget::default(),
            Escape::Html,
        )
        .unwrap();
        assert_eq!(html, "&lt;b&gt;x&lt;&#x2f;b&gt; &amp; y");
    }

    #[test]
    fn variables_lists_the_names_read() {
        let names = variables("{{ alert.summary }} {% for l in range(3) %}{% endfor %} {% for l in labels %}{{ l }}{% endfor %} {{ runbook|default('') }}").unwrap();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            vec!["alert".to_string(), "labels".into(), "runbook".into()]
        );
    }
}
