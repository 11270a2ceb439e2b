//! Label matchers in Prometheus syntax, as maintenance windows and inhibition rules use
//! them: `name=value`, `name!=value`, `name=~regex`, `name!~regex`. Regexes are anchored
//! like Prometheus's (`=~` matches the whole value), and a missing label matches as the
//! empty string, so `team!=noc` holds for an alert without a team.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// Compiled, anchored; only for the regex operators.
    pattern: Option<Regex>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{matcher:?}: {reason}")]
pub struct MatcherError {
    pub matcher: String,
    pub reason: String,
}

impl Matcher {
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let error = |reason: &str| MatcherError {
            matcher: text.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = text.trim();
        let name_end = trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| error("no operator: use =, !=, =~ or !~"))?;
        let name = &trimmed[..name_end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(error("a label name starts with a letter or _"));
        }
        let rest = trimmed[name_end..].trim_start();
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Equal, v)
        } else {
            return Err(error("no operator: use =, !=, =~ or !~"));
        };
        let value = unquote(value.trim()).map_err(|reason| error(&reason))?;
        let pattern = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| error(&format!("not a valid regex: {e}")))?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value,
            pattern,
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let actual = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.pattern) {
            (MatchOp::Equal, _) => actual == self.value,
            (MatchOp::NotEqual, _) => actual != self.value,
            (MatchOp::Regex, Some(p)) => p.is_match(actual),
            (MatchOp::NotRegex, Some(p)) => !p.is_match(actual),
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

/// `"value"` (with `\"` and `\\`) or a bare value.
fn unquote(value: &str) -> Result<String, String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Ok(value.to_string());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or_else(|| "an opening quote needs a closing one".to_string())?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(escaped) => out.push(escaped),
                None => return Err("a trailing backslash".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("alertname".into(), "InterfaceDown".into()),
            ("device".into(), "core-rtr-01.iad1".into()),
            ("site".into(), "IAD1".into()),
        ])
    }

    fn check(text: &str) -> bool {
        Matcher::parse(text).unwrap().matches(&labels())
    }

    #[test]
    fn every_operator_prometheus_style() {
        assert!(check("site=IAD1"));
        assert!(check("site = \"IAD1\""));
        assert!(check("site!=FRA3"));
        assert!(check("device=~core-.*"));
        assert!(
            !check("device=~core"),
            "anchored: the whole value must match"
        );
        assert!(check("alertname=~InterfaceDown|PeerUnreachable"));
        assert!(check("device!~edge-.*"));
        assert!(check("team!=noc"), "a missing label is empty");
        assert!(check("team=\"\""));
        assert!(!check("team=~.+"));
    }

    #[test]
    fn bad_matchers_say_why() {
        assert!(Matcher::parse("site").is_err());
        assert!(Matcher::parse("=IAD1").is_err());
        assert!(Matcher::parse("9site=IAD1").is_err());
        assert!(Matcher::parse("device=~(").is_err());
        assert!(Matcher::parse("site=\"IAD1").is_err());
        assert_eq!(Matcher::parse(r#"site=~"a\"b""#).unwrap().value, "a\"b");
    }
}
