//! The messages waiting for one destination, in the order a busy destination sends
//! them (DOMAIN.md, ordering under pressure): verification codes, pages (the first alert
//! of a service before repeats), status updates, digests. Identical waiting messages
//! merge into one. When the destination's turn comes and several of the leading kind
//! wait, they go as one digest, so a storm becomes a few messages, not a backlog.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::message::{AlertRef, Class};

/// One waiting message. `P` is what the shell needs to send it alone.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending<P> {
    pub class: Class,
    /// Messages with equal keys to one destination are identical.
    pub merge_key: String,
    /// The delivery records this message stands for (several once merged).
    pub deliveries: Vec<Uuid>,
    /// The alerts it is about.
    pub alerts: Vec<AlertRef>,
    pub payload: P,
}

/// What to send next.
#[derive(Debug, PartialEq)]
pub enum Batch<P> {
    One(Pending<P>),
    /// Several waiting messages as one digest, in sending order.
    Digest(Vec<Pending<P>>),
}

impl<P> Batch<P> {
    pub fn deliveries(&self) -> Vec<Uuid> {
        match self {
            Batch::One(p) => p.deliveries.clone(),
            Batch::Digest(items) => items.iter().flat_map(|p| p.deliveries.clone()).collect(),
        }
    }

    /// Every alert the batch is about, each once, in order.
    pub fn alerts(&self) -> Vec<AlertRef> {
        match self {
            Batch::One(p) => alerts_of(std::slice::from_ref(p)),
            Batch::Digest(items) => alerts_of(items),
        }
    }
}

/// Every alert the messages are about, each once, in order.
pub fn alerts_of<P>(items: &[Pending<P>]) -> Vec<AlertRef> {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .flat_map(|p| p.alerts.iter())
        .filter(|a| seen.insert(a.id))
        .cloned()
        .collect()
}

#[derive(Debug)]
pub struct PendingQueue<P> {
    next: u64,
    items: BTreeMap<(Class, u64), Pending<P>>,
    by_key: HashMap<(Class, String), u64>,
}

impl<P> Default for PendingQueue<P> {
    fn default() -> Self {
        PendingQueue {
            next: 0,
            items: BTreeMap::new(),
            by_key: HashMap::new(),
        }
    }
}

/// Whether a pushed message waits on its own or joined an identical one.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    Merged,
}

impl<P> PendingQueue<P> {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, pending: Pending<P>) -> Pushed {
        let key = (pending.class, pending.merge_key.clone());
        if let Some(seq) = self.by_key.get(&key)
            && let Some(existing) = self.items.get_mut(&(pending.class, *seq))
        {
            existing.deliveries.extend(pending.deliveries);
            for alert in pending.alerts {
                if !existing.alerts.iter().any(|a| a.id == alert.id) {
                    existing.alerts.push(alert);
                }
            }
            return Pushed::Merged;
        }
        let seq = self.next;
        self.next += 1;
        self.by_key.insert(key, seq);
        self.items.insert((pending.class, seq), pending);
        Pushed::Queued
    }

    /// The next thing to send: a verification code alone; otherwise every waiting
    /// message of the leading group (pages, or status updates and digests) — one alone,
    /// several as a digest.
    pub fn take(&mut self) -> Option<Batch<P>> {
        let (&(lead, _), _) = self.items.first_key_value()?;
        if lead == Class::Verification {
            let (_, first) = self.items.pop_first()?;
            self.by_key.remove(&(first.class, first.merge_key.clone()));
            return Some(Batch::One(first));
        }
        let group = |class: Class| {
            if lead.is_page() {
                class.is_page()
            } else {
                !class.is_page() && class != Class::Verification
            }
        };
        let keys: Vec<(Class, u64)> = self
            .items
            .keys()
            .filter(|(class, _)| group(*class))
            .copied()
            .collect();
        let mut taken = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(item) = self.items.remove(&key) {
                self.by_key.remove(&(item.class, item.merge_key.clone()));
                taken.push(item);
            }
        }
        if taken.len() == 1 {
            taken.pop().map(Batch::One)
        } else {
            Some(Batch::Digest(taken))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(class: Class, key: &str, alert: u8) -> Pending<&'static str> {
        let id = Uuid::from_bytes([alert; 16]);
        Pending {
            class,
            merge_key: key.into(),
            deliveries: vec![Uuid::new_v4()],
            alerts: vec![AlertRef {
                id,
                number: i64::from(alert),
                summary: format!("alert {alert}"),
                severity: "high".into(),
                site: String::new(),
                service_id: Uuid::nil(),
            }],
            payload: "p",
        }
    }

    fn numbers(batch: &Batch<&str>) -> Vec<i64> {
        batch.alerts().iter().map(|a| a.number).collect()
    }

    #[test]
    fn one_waiting_message_goes_alone() {
        let mut queue = PendingQueue::default();
        queue.push(pending(Class::Status, "a", 1));
        assert!(matches!(queue.take(), Some(Batch::One(_))));
        assert!(queue.take().is_none());
    }

    #[test]
    fn codes_then_pages_first_of_service_first_then_the_rest_as_a_digest() {
        let mut queue = PendingQueue::default();
        queue.push(pending(Class::Status, "s1", 1));
        queue.push(pending(Class::Page, "p2", 2));
        queue.push(pending(Class::Digest, "d3", 3));
        queue.push(pending(Class::FirstPage, "p4", 4));
        queue.push(pending(Class::Verification, "v", 5));
        queue.push(pending(Class::Status, "s6", 6));
        let first = queue.take().unwrap();
        assert!(matches!(first, Batch::One(ref p) if p.class == Class::Verification));
        let pages = queue.take().unwrap();
        assert!(matches!(pages, Batch::Digest(_)));
        assert_eq!(numbers(&pages), vec![4, 2]);
        let rest = queue.take().unwrap();
        assert_eq!(numbers(&rest), vec![1, 6, 3]);
        assert!(queue.is_empty());
    }

    #[test]
    fn identical_messages_merge() {
        let mut queue = PendingQueue::default();
        assert_eq!(queue.push(pending(Class::Page, "same", 1)), Pushed::Queued);
        assert_eq!(queue.push(pending(Class::Page, "same", 1)), Pushed::Merged);
        assert_eq!(
            queue.push(pending(Class::Status, "same", 1)),
            Pushed::Queued
        );
        assert_eq!(queue.len(), 2);
        let Some(Batch::One(page)) = queue.take() else {
            panic!("one page expected")
        };
        assert_eq!(page.deliveries.len(), 2);
        assert_eq!(page.alerts.len(), 1);
    }

    #[test]
    fn every_alert_is_in_exactly_one_batch() {
        let mut queue = PendingQueue::default();
        let mut sent = Vec::new();
        for n in 0..200u8 {
            let class = if n % 3 == 0 {
                Class::Page
            } else {
                Class::Status
            };
            queue.push(pending(class, &n.to_string(), n));
            if n % 17 == 0
                && let Some(batch) = queue.take()
            {
                sent.extend(numbers(&batch));
            }
        }
        while let Some(batch) = queue.take() {
            sent.extend(numbers(&batch));
        }
        sent.sort();
        assert_eq!(sent, (0..200).collect::<Vec<i64>>());
    }
}
