//! Validation of raw schedule input (as it arrives from an API) into the
//! typed schedule, collecting every problem with the field it concerns
//! instead of stopping at the first.

use std::fmt;

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::Schedule;
use super::overrides::{Override, OverrideKind};
use super::restriction::Restriction;
use super::rotation::{Rotation, RotationKind};

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path of the field, e.g. `rotations[0].shift_config.handoff_days[1]`.
    pub field: String,
    /// What is wrong, e.g. `9 is not a day 0..6`.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Raw restriction window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestrictionInput {
    /// Days the window starts on, 0 = Sunday … 6 = Saturday.
    pub days: Vec<i64>,
    /// Opening time, `HH:MM`.
    pub start: String,
    /// Closing time, `HH:MM`; at or before `start` it crosses midnight.
    pub end: String,
}

/// Raw rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationInput {
    /// Rotation id (made by the caller; this module draws no randomness).
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// `daily`, `weekly`, `biweekly` or `custom`.
    pub kind: String,
    /// Member user ids, sorted by position.
    pub members: Vec<Uuid>,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// Shift length in seconds; required (and positive) for custom rotations.
    pub shift_length: Option<i64>,
    /// Handoff time, `HH:MM` local.
    pub handoff_time: String,
    /// Handoff days, 0 = Sunday … 6 = Saturday.
    pub handoff_days: Vec<i64>,
    /// Restriction windows; empty means always on call.
    pub restrictions: Vec<RestrictionInput>,
    /// Level, at least 1.
    pub level: i64,
}

/// Raw override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideInput {
    /// Override id.
    pub id: Uuid,
    /// `replace`, `add` or `remove`.
    pub kind: String,
    /// The user added, removed or replacing someone.
    pub user_id: Uuid,
    /// For `replace`: the user being replaced.
    pub replaced_user_id: Option<Uuid>,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end; must be after `start`.
    pub end: DateTime<Utc>,
    /// Level, at least 1.
    pub level: i64,
    /// Why it was made.
    pub reason: String,
    /// Who made it.
    pub author: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// Collects problems under a path prefix.
struct Problems<'a> {
    prefix: &'a str,
    list: Vec<Problem>,
}

impl<'a> Problems<'a> {
    fn new(prefix: &'a str) -> Self {
        Self {
            prefix,
            list: Vec::new(),
        }
    }

    fn add(&mut self, field: &str, message: impl Into<String>) {
        let field = if self.prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.prefix)
        };
        self.list.push(Problem {
            field,
            message: message.into(),
        });
    }
}

/// Validates a rotation; `path` prefixes field names (e.g. `rotations[0]`,
/// or empty for bare names).
pub fn validate_rotation(input: &RotationInput, path: &str) -> Result<Rotation, Vec<Problem>> {
    let mut problems = Problems::new(path);

    if input.name.trim().is_empty() {
        problems.add("name", "give a name");
    }
    let kind = match input.kind.as_str() {
        "daily" => Some(RotationKind::Daily),
        "weekly" => Some(RotationKind::Weekly),
        "biweekly" => Some(RotationKind::Biweekly),
        "custom" => Some(RotationKind::Custom),
        other => {
            problems.add(
                "type",
                format!("{other:?} is not one of daily, weekly, biweekly, custom"),
            );
            None
        }
    };
    if input.members.is_empty() {
        problems.add("members", "give at least one member");
    }
    let shift_length = match (kind, input.shift_length) {
        (Some(RotationKind::Custom), Some(secs)) if secs > 0 => {
            match TimeDelta::try_seconds(secs) {
                Some(length) => length,
                None => {
                    problems.add(
                        "shift_config.shift_length",
                        format!("{secs} seconds is too long"),
                    );
                    TimeDelta::zero()
                }
            }
        }
        (Some(RotationKind::Custom), _) => {
            problems.add(
                "shift_config.shift_length",
                "must be positive for custom rotations",
            );
            TimeDelta::zero()
        }
        // Other kinds hand off on the wall clock and ignore the length.
        (_, Some(secs)) => TimeDelta::try_seconds(secs).unwrap_or_default(),
        (_, None) => TimeDelta::zero(),
    };
    // Custom shifts are fixed durations: a handoff time means nothing to them.
    let handoff_time = if kind == Some(RotationKind::Custom) && input.handoff_time.is_empty() {
        Some(NaiveTime::MIN)
    } else {
        parse_hh_mm(&input.handoff_time)
    };
    if handoff_time.is_none() {
        problems.add(
            "shift_config.handoff_time",
            format!("{:?} is not HH:MM", input.handoff_time),
        );
    }
    let handoff_days = days(
        &input.handoff_days,
        "shift_config.handoff_days",
        &mut problems,
    );

    let mut restrictions = Vec::with_capacity(input.restrictions.len());
    for (i, r) in input.restrictions.iter().enumerate() {
        let field = format!("restrictions[{i}]");
        if r.days.is_empty() {
            problems.add(&format!("{field}.days_of_week"), "give at least one day");
        }
        let restriction_days = days(&r.days, &format!("{field}.days_of_week"), &mut problems);
        let start = parse_hh_mm(&r.start);
        if start.is_none() {
            problems.add(
                &format!("{field}.start_time"),
                format!("{:?} is not HH:MM", r.start),
            );
        }
        let end = parse_hh_mm(&r.end);
        if end.is_none() {
            problems.add(
                &format!("{field}.end_time"),
                format!("{:?} is not HH:MM", r.end),
            );
        }
        if let (Some(start), Some(end)) = (start, end) {
            restrictions.push(Restriction {
                days: restriction_days,
                start,
                end,
            });
        }
    }

    let level = level(input.level, &mut problems);

    match (kind, handoff_time, level) {
        (Some(kind), Some(handoff_time), Some(level)) if problems.list.is_empty() => Ok(Rotation {
            id: input.id,
            name: input.name.trim().to_owned(),
            kind,
            members: input.members.clone(),
            start: input.start,
            shift_length,
            handoff_time,
            handoff_days,
            restrictions,
            level,
        }),
        _ => Err(problems.list),
    }
}

/// Validates an override; `path` prefixes field names (e.g. `overrides[2]`).
pub fn validate_override(input: &OverrideInput, path: &str) -> Result<Override, Vec<Problem>> {
    let mut problems = Problems::new(path);
    let kind = match (input.kind.as_str(), input.replaced_user_id) {
        ("replace", Some(replaced)) if replaced == input.user_id => {
            problems.add("replaced_user_id", "must differ from user_id");
            None
        }
        ("replace", Some(replaced_user_id)) => Some(OverrideKind::Replace { replaced_user_id }),
        ("replace", None) => {
            problems.add("replaced_user_id", "give the user being replaced");
            None
        }
        ("add", _) => Some(OverrideKind::Add),
        ("remove", _) => Some(OverrideKind::Remove),
        (other, _) => {
            problems.add(
                "type",
                format!("{other:?} is not one of replace, add, remove"),
            );
            None
        }
    };
    if input.end <= input.start {
        problems.add("end_time", "must be after start_time");
    }
    let level = level(input.level, &mut problems);
    match (kind, level) {
        (Some(kind), Some(level)) if problems.list.is_empty() => Ok(Override {
            id: input.id,
            kind,
            user_id: input.user_id,
            start: input.start,
            end: input.end,
            level,
            reason: input.reason.clone(),
            author: input.author.clone(),
            created_at: input.created_at,
        }),
        _ => Err(problems.list),
    }
}

/// Validates a whole schedule: the zone name (field `timezone`), each
/// rotation (`rotations[i]`) and each override (`overrides[i]`).
pub fn validate_schedule(
    time_zone: &str,
    rotations: &[RotationInput],
    overrides: &[OverrideInput],
) -> Result<Schedule, Vec<Problem>> {
    let mut problems = Vec::new();
    let zone = match time_zone.parse::<Tz>() {
        Ok(zone) => Some(zone),
        Err(_) => {
            problems.push(Problem {
                field: "timezone".to_owned(),
                message: format!("{time_zone:?} is not a known IANA time zone"),
            });
            None
        }
    };
    let mut typed_rotations = Vec::with_capacity(rotations.len());
    for (i, r) in rotations.iter().enumerate() {
        match validate_rotation(r, &format!("rotations[{i}]")) {
            Ok(rotation) => typed_rotations.push(rotation),
            Err(found) => problems.extend(found),
        }
    }
    let mut typed_overrides = Vec::with_capacity(overrides.len());
    for (i, o) in overrides.iter().enumerate() {
        match validate_override(o, &format!("overrides[{i}]")) {
            Ok(o) => typed_overrides.push(o),
            Err(found) => problems.extend(found),
        }
    }
    match zone {
        Some(time_zone) if problems.is_empty() => Ok(Schedule {
            time_zone,
            rotations: typed_rotations,
            overrides: typed_overrides,
        }),
        _ => Err(problems),
    }
}

/// Parses strict `HH:MM` (two digits each, 00:00–23:59).
fn parse_hh_mm(text: &str) -> Option<NaiveTime> {
    let (hh, mm) = text.split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hh) || !two_digits(mm) {
        return None;
    }
    NaiveTime::from_hms_opt(hh.parse().ok()?, mm.parse().ok()?, 0)
}

/// Checks weekday numbers, reporting each bad one as `field[i]`.
fn days(raw: &[i64], field: &str, problems: &mut Problems<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, &day) in raw.iter().enumerate() {
        match u8::try_from(day) {
            Ok(d) if d <= 6 => out.push(d),
            _ => problems.add(&format!("{field}[{i}]"), format!("{day} is not a day 0..6")),
        }
    }
    out
}

/// Checks a level is at least 1 and fits.
fn level(raw: i64, problems: &mut Problems<'_>) -> Option<u32> {
    match u32::try_from(raw) {
        Ok(level) if level >= 1 => Some(level),
        Ok(_) => {
            problems.add("level", "must be at least 1");
            None
        }
        Err(_) if raw < 1 => {
            problems.add("level", "must be at least 1");
            None
        }
        Err(_) => {
            problems.add("level", format!("{raw} is too large"));
            None
        }
    }
}
