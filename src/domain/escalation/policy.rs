//! Escalation policies as the engine uses them, checked and compiled at the edge.

use chrono::TimeDelta;
use uuid::Uuid;

use crate::domain::routing::CelCondition;
use crate::domain::severity::Severity;

/// Whom a step pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    User(Uuid),
    /// Whoever is on call at `level` when the step fires (falling back to the next
    /// level down when that level is empty).
    Schedule {
        id: Uuid,
        level: u32,
    },
    /// Whoever is on call on the team's schedules when the step fires.
    Team(Uuid),
    /// A channel: a webhook URL until the notification service lands.
    Channel(String),
    /// Hands the alert over: this chain ends and one on that policy starts.
    Policy(Uuid),
}

impl Target {
    /// How the target names itself in a page record and on a timeline (a page row for a
    /// schedule or team with nobody on call carries this instead of a recipient).
    pub fn describe(&self) -> String {
        match self {
            Target::User(id) => format!("user:{id}"),
            Target::Schedule { id, level } => format!("schedule:{id}:level:{level}"),
            Target::Team(id) => format!("team:{id}"),
            Target::Channel(url) => format!("channel:{url}"),
            Target::Policy(id) => format!("policy:{id}"),
        }
    }
}

/// What a policy does when its steps and repeats are spent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exhausted {
    Stop,
    Notify(Target),
    CreateTicket(Severity),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The wait after the previous step fired (step 1: after the chain started).
    pub delay: TimeDelta,
    pub targets: Vec<Target>,
    /// When it holds for the alert as the step fires, the step pages nobody and the
    /// chain moves on.
    pub skip: Option<CelCondition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub id: Uuid,
    pub name: String,
    pub steps: Vec<Step>,
    /// Rounds after the first.
    pub repeat_count: u32,
    /// The wait before each repeat round; `None` means the last step's delay.
    pub repeat_delay: Option<TimeDelta>,
    pub exhausted: Exhausted,
}

impl Policy {
    /// The policies this one hands alerts over to.
    pub fn handovers(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.steps
            .iter()
            .flat_map(|s| &s.targets)
            .chain(match &self.exhausted {
                Exhausted::Notify(target) => Some(target),
                _ => None,
            })
            .filter_map(|t| match t {
                Target::Policy(id) => Some(*id),
                _ => None,
            })
    }

    /// The policy with every wait multiplied by a customer tier's escalation multiplier
    /// (0.5: steps come twice as fast), to the millisecond.
    pub fn scaled(&self, multiplier: f64) -> Policy {
        let scale = |delay: TimeDelta| {
            let millis = (delay.num_milliseconds() as f64 * multiplier).round();
            // Saturates: a multiplier is at most 100, so this only guards nonsense.
            TimeDelta::try_milliseconds(millis as i64).unwrap_or(TimeDelta::MAX)
        };
        Policy {
            steps: self
                .steps
                .iter()
                .map(|step| Step {
                    delay: scale(step.delay),
                    ..step.clone()
                })
                .collect(),
            repeat_delay: self.repeat_delay.map(scale),
            ..self.clone()
        }
    }

    pub fn repeat_wait(&self) -> TimeDelta {
        self.repeat_delay
            .or_else(|| self.steps.last().map(|s| s.delay))
            .unwrap_or_default()
    }
}
