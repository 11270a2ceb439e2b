//! The dedup key of an alert: (service, fingerprint).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Which open alert an incoming one belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AlertKey {
    pub service_id: Uuid,
    pub fingerprint: String,
}

impl AlertKey {
    /// Spreads keys over `shards` by a stable hash, so one fingerprint always lands on
    /// the same shard (and a restart puts it back there).
    pub fn shard(&self, shards: usize) -> usize {
        let mut hasher = Sha256::new();
        hasher.update(self.service_id.as_bytes());
        hasher.update(self.fingerprint.as_bytes());
        let digest = hasher.finalize();
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        (u64::from_le_bytes(head) % shards.max(1) as u64) as usize
    }
}

/// Derives a fingerprint when the sender gave none: the hex of the first 16 bytes of
/// SHA-256 over the service id and the sorted raw labels (before enrichment), or over
/// the service id and the summary when there are no labels.
pub fn derive(service_id: Uuid, labels: &BTreeMap<String, String>, summary: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(service_id.as_bytes());
    if labels.is_empty() {
        hasher.update(b"\x00summary\x00");
        hasher.update(summary.as_bytes());
    } else {
        // BTreeMap iterates sorted; the separators keep ("a","bc") apart from ("ab","c").
        for (name, value) in labels {
            hasher.update(name.as_bytes());
            hasher.update(b"\x00");
            hasher.update(value.as_bytes());
            hasher.update(b"\x01");
        }
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn is_stable_and_order_independent() {
        let service = Uuid::from_u128(7);
        let a = derive(service, &labels(&[("site", "IAD1"), ("device", "r1")]), "x");
        let b = derive(service, &labels(&[("device", "r1"), ("site", "IAD1")]), "y");
        assert_eq!(a, b, "summary is ignored when labels exist");
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn separates_services_label_boundaries_and_summaries() {
        let one = Uuid::from_u128(1);
        let two = Uuid::from_u128(2);
        let l = labels(&[("a", "bc")]);
        assert_ne!(derive(one, &l, ""), derive(two, &l, ""));
        assert_ne!(
            derive(one, &l, ""),
            derive(one, &labels(&[("ab", "c")]), "")
        );
        let empty = BTreeMap::new();
        assert_ne!(
            derive(one, &empty, "fibre cut"),
            derive(one, &empty, "power")
        );
    }

    #[test]
    fn shards_stay_in_range_and_stable() {
        let key = AlertKey {
            service_id: Uuid::from_u128(3),
            fingerprint: "920301b2e33ecfe9".into(),
        };
        assert_eq!(key.shard(8), key.shard(8));
        assert!(key.shard(8) < 8);
        assert_eq!(key.shard(0), 0);
    }
}
