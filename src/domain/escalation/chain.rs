//! A chain: one alert's walk through one policy. Firing a step says whom to page and
//! moves the chain on (next step, next round, hand over, or exhausted); the caller
//! stores the moved chain before it pages anyone.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::policy::{Exhausted, Policy, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainStatus {
    Active,
    /// Acknowledged, resolved, or stopped by hand.
    Stopped,
    /// Every step and repeat fired; the exhausted action ran.
    Exhausted,
    /// A step handed the alert to another policy.
    HandedOver,
}

impl ChainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainStatus::Active => "active",
            ChainStatus::Stopped => "stopped",
            ChainStatus::Exhausted => "exhausted",
            ChainStatus::HandedOver => "handed_over",
        }
    }

    pub fn parse(text: &str) -> Option<ChainStatus> {
        [
            ChainStatus::Active,
            ChainStatus::Stopped,
            ChainStatus::Exhausted,
            ChainStatus::HandedOver,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub id: Uuid,
    pub alert_id: Uuid,
    pub policy_id: Uuid,
    /// Grows when the alert's chain restarts (a re-trigger), so the restarted chain's
    /// pages have keys of their own.
    pub generation: i32,
    /// The step that fires next (0-based).
    pub step: i32,
    /// The round the next step belongs to (0 is the first pass).
    pub repeat: i32,
    pub next_fire_at: Option<DateTime<Utc>>,
    pub status: ChainStatus,
    pub started_at: DateTime<Utc>,
}

/// What firing a step asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Fired {
    pub step: i32,
    pub repeat: i32,
    /// Empty when the step was skipped.
    pub targets: Vec<Target>,
    pub skipped: bool,
    /// Set when the chain ran out: the policy's exhausted action.
    pub exhausted: Option<Exhausted>,
    /// Set when a step handed the alert to another policy.
    pub handover: Option<Uuid>,
}

/// The idempotency key of one page: at most one page per key, ever.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub alert_id: Uuid,
    pub generation: i32,
    pub policy_id: Uuid,
    pub step: i32,
    pub repeat: i32,
    /// The recipient: `user:<id>` or `channel:<url>`.
    pub target: String,
}

impl Chain {
    /// A new chain on `policy`; its first step fires after that step's delay.
    pub fn start(
        id: Uuid,
        alert_id: Uuid,
        policy: &Policy,
        generation: i32,
        now: DateTime<Utc>,
    ) -> Chain {
        let first = policy.steps.first().map(|s| now + s.delay);
        Chain {
            id,
            alert_id,
            policy_id: policy.id,
            generation,
            step: 0,
            repeat: 0,
            next_fire_at: first,
            status: if first.is_some() {
                ChainStatus::Active
            } else {
                ChainStatus::Exhausted
            },
            started_at: now,
        }
    }

    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.status == ChainStatus::Active && self.next_fire_at.is_some_and(|at| at <= now)
    }

    /// Moves the pending step to now (EscalateAlert).
    pub fn escalate_now(&mut self, now: DateTime<Utc>) {
        if self.status == ChainStatus::Active {
            self.next_fire_at = Some(now);
        }
    }

    pub fn stop(&mut self) {
        self.status = ChainStatus::Stopped;
        self.next_fire_at = None;
    }

    /// Fires the pending step at `now` and moves the chain on. `skip` says whether a
    /// step's skip condition holds for this alert (evaluated by the caller).
    pub fn fire(
        &mut self,
        policy: &Policy,
        now: DateTime<Utc>,
        skip: impl Fn(usize) -> bool,
    ) -> Fired {
        let (step, repeat) = (self.step, self.repeat);
        let index = usize::try_from(step).unwrap_or(usize::MAX);
        let Some(current) = policy.steps.get(index) else {
            // The policy lost steps since this chain started: it is spent.
            return self.exhaust(policy, step, repeat);
        };
        let skipped = skip(index);
        let targets = if skipped {
            Vec::new()
        } else {
            current.targets.clone()
        };
        let handover = targets.iter().find_map(|t| match t {
            Target::Policy(id) => Some(*id),
            _ => None,
        });
        let mut fired = Fired {
            step,
            repeat,
            targets,
            skipped,
            exhausted: None,
            handover,
        };
        if handover.is_some() {
            self.status = ChainStatus::HandedOver;
            self.next_fire_at = None;
            return fired;
        }
        if let Some(next) = policy.steps.get(index + 1) {
            self.step += 1;
            self.next_fire_at = Some(now + next.delay);
        } else if repeat < i32::try_from(policy.repeat_count).unwrap_or(i32::MAX) {
            self.step = 0;
            self.repeat += 1;
            self.next_fire_at = Some(now + policy.repeat_wait());
        } else {
            fired.exhausted = Some(policy.exhausted.clone());
            self.status = ChainStatus::Exhausted;
            self.next_fire_at = None;
        }
        fired
    }

    fn exhaust(&mut self, policy: &Policy, step: i32, repeat: i32) -> Fired {
        self.status = ChainStatus::Exhausted;
        self.next_fire_at = None;
        Fired {
            step,
            repeat,
            targets: Vec::new(),
            skipped: false,
            exhausted: Some(policy.exhausted.clone()),
            handover: None,
        }
    }

    /// The key of a page this chain sends to `target` for the step `fired` fired.
    pub fn page_key(&self, fired: &Fired, target: String) -> PageKey {
        PageKey {
            alert_id: self.alert_id,
            generation: self.generation,
            policy_id: self.policy_id,
            step: fired.step,
            repeat: fired.repeat,
            target,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::domain::escalation::policy::Step;
    use crate::domain::severity::Severity;

    fn t(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 3, 0, 0).unwrap() + TimeDelta::seconds(seconds)
    }

    fn user(n: u128) -> Target {
        Target::User(Uuid::from_u128(n))
    }

    fn policy(repeat_count: u32) -> Policy {
        Policy {
            id: Uuid::from_u128(100),
            name: "core".into(),
            steps: vec![
                Step {
                    delay: TimeDelta::zero(),
                    targets: vec![user(1)],
                    skip: None,
                },
                Step {
                    delay: TimeDelta::seconds(120),
                    targets: vec![user(2), user(3)],
                    skip: None,
                },
            ],
            repeat_count,
            repeat_delay: None,
            exhausted: Exhausted::CreateTicket(Severity::High),
        }
    }

    fn walk(policy: &Policy, chain: &mut Chain) -> Vec<(i64, i32, i32, usize)> {
        let mut fired = Vec::new();
        while let Some(at) = chain.next_fire_at {
            let f = chain.fire(policy, at, |_| false);
            fired.push(((at - t(0)).num_seconds(), f.step, f.repeat, f.targets.len()));
        }
        fired
    }

    #[test]
    fn steps_fire_in_order_after_their_delays_then_repeat_then_exhaust() {
        let policy = policy(1);
        let mut chain = Chain::start(Uuid::nil(), Uuid::nil(), &policy, 0, t(0));
        assert!(chain.is_due(t(0)), "a zero delay fires at once");
        assert_eq!(
            walk(&policy, &mut chain),
            vec![(0, 0, 0, 1), (120, 1, 0, 2), (240, 0, 1, 1), (360, 1, 1, 2)],
            "the repeat round starts the last step's delay after it"
        );
        assert_eq!(chain.status, ChainStatus::Exhausted);
    }

    #[test]
    fn the_last_fire_carries_the_exhausted_action() {
        let policy = policy(0);
        let mut chain = Chain::start(Uuid::nil(), Uuid::nil(), &policy, 0, t(0));
        chain.fire(&policy, t(0), |_| false);
        let last = chain.fire(&policy, t(120), |_| false);
        assert_eq!(
            last.exhausted,
            Some(Exhausted::CreateTicket(Severity::High))
        );
    }

    #[test]
    fn a_repeat_delay_overrides_the_last_steps_delay() {
        let mut policy = policy(1);
        policy.repeat_delay = Some(TimeDelta::seconds(30));
        let mut chain = Chain::start(Uuid::nil(), Uuid::nil(), &policy, 0, t(0));
        let times: Vec<i64> = walk(&policy, &mut chain).iter().map(|f| f.0).collect();
        assert_eq!(times, vec![0, 120, 150, 270]);
    }

    #[test]
    fn a_tier_multiplier_scales_every_wait() {
        let mut policy = policy(1);
        policy.repeat_delay = Some(TimeDelta::seconds(30));
        let fast = policy.scaled(0.5);
        let mut chain = Chain::start(Uuid::nil(), Uuid::nil(), &fast, 0, t(0));
        let times: Vec<i64> = walk(&fast, &mut chain).iter().map(|f| f.0).collect();
        assert_eq!(
            times,
            vec![0, 60, 75, 135],
            "0.5 makes steps come twice as fast"
        );
        let slow = policy.scaled(2.0);
        let mut chain = Chain::start(Uuid::nil(), Uuid::nil(), &slow, 0, t(0));
        let times: Vec<i64> = walk(&slow, &mut chain).iter().map(|f| f.0).collect();
        assert_eq!(times, vec![0, 240, 300, 540]);
        assert_eq!(policy.scaled(1.0), policy);
    }

    #[test]
    fn a_skipped_step_pages_nobody_and_the_chain_goes_on() {
        let policy = policy(0);
        let mut chain = Chain::start(Uuid::nil(), Uuid::nil(), &policy, 0, t(0));
        let first = chain.fire(&policy, t(0), |step| step == 0);
        assert!(first.skipped);
        assert!(first.targets.is_empty());
        assert_eq!(chain.step, 1);
    }

    #[test]
    fn a_policy_target_hands_over_and_ends_the_chain() {
        let mut policy = policy(3);
        let next = Uuid::from_u128(200);
        policy.steps[1].targets.push(Target::Policy(next));
        let mut chain = Chain::start(Uuid::nil(), Uuid::nil(), &policy, 0, t(0));
        chain.fire(&policy, t(0), |_| false);
        let handed = chain.fire(&policy, t(120), |_| false);
        assert_eq!(handed.handover, Some(next));
        assert_eq!(
            handed.targets.len(),
            3,
            "the step's other targets are paged too"
        );
        assert_eq!(chain.status, ChainStatus::HandedOver);
        assert_eq!(chain.next_fire_at, None);
    }

    #[test]
    fn escalating_now_moves_the_pending_step_and_stopping_ends_it() {
        let policy = policy(0);
        let mut chain = Chain::start(Uuid::nil(), Uuid::nil(), &policy, 0, t(0));
        chain.fire(&policy, t(0), |_| false);
        assert!(!chain.is_due(t(10)));
        chain.escalate_now(t(10));
        assert!(chain.is_due(t(10)));
        chain.stop();
        assert!(!chain.is_due(t(1000)));
        assert_eq!(chain.status, ChainStatus::Stopped);
    }

    #[test]
    fn page_keys_differ_by_step_repeat_generation_and_target() {
        let policy = policy(1);
        let mut chain = Chain::start(Uuid::nil(), Uuid::nil(), &policy, 0, t(0));
        let first = chain.fire(&policy, t(0), |_| false);
        let key = chain.page_key(&first, "user:1".into());
        let mut again = chain.clone();
        again.generation = 1;
        assert_ne!(key, again.page_key(&first, "user:1".into()));
        assert_ne!(key, chain.page_key(&first, "user:2".into()));
        let second = chain.fire(&policy, t(120), |_| false);
        assert_ne!(key, chain.page_key(&second, "user:1".into()));
    }
}
