//! The store's change signal: every write of a definition bumps its kind's version, on
//! this node, before the write returns. Books compare the version they were built at
//! with the current one to know they are stale (so a page right after a schedule is
//! saved sees it), and watchers wait on it. The cluster issue carries the same signal
//! between nodes.

use tokio::sync::watch;

use super::Kind;

pub struct Changes {
    versions: [watch::Sender<u64>; Kind::ALL.len()],
}

impl Default for Changes {
    fn default() -> Changes {
        Changes {
            versions: std::array::from_fn(|_| watch::Sender::new(0)),
        }
    }
}

impl Changes {
    /// A definition of this kind was written or deleted.
    pub fn bump(&self, kind: Kind) {
        self.versions[kind.index()].send_modify(|version| *version = version.wrapping_add(1));
    }

    /// The kind's version now; it differs from an earlier reading after any write.
    pub fn version(&self, kind: Kind) -> u64 {
        *self.versions[kind.index()].borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_slot() {
        for (slot, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), slot, "{kind:?}");
        }
    }

    #[test]
    fn a_write_bumps_only_its_kind() {
        let changes = Changes::default();
        changes.bump(Kind::Schedule);
        assert_eq!(changes.version(Kind::Schedule), 1);
        assert_eq!(changes.version(Kind::EscalationPolicy), 0);
    }
}
