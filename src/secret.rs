//! Secrets in settings files: given inline, by environment variable or by file, at most
//! one way. A leaf: settings, notifications and the directory all read secrets through
//! it without depending on each other.

use std::path::PathBuf;

/// A secret given inline, by environment variable or by file: at most one way.
pub fn secret(
    name: &str,
    inline: &Option<String>,
    env: &Option<String>,
    file: &Option<PathBuf>,
    problems: &mut Vec<String>,
) -> Option<String> {
    match (inline, env, file) {
        (Some(value), None, None) => Some(value.clone()),
        (None, Some(var), None) => match std::env::var(var) {
            Ok(value) => Some(value),
            Err(_) => {
                problems.push(format!("{name}_env: environment variable {var} is not set"));
                None
            }
        },
        (None, None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(value) => Some(value.trim().to_string()),
            Err(e) => {
                problems.push(format!("{name}_file: {}: {e}", path.display()));
                None
            }
        },
        (None, None, None) => None,
        _ => {
            problems.push(format!(
                "{name}: give it one way only (inline, _env or _file)"
            ));
            None
        }
    }
}
