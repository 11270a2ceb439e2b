//! The shape of a storm: what a fibre cut looks like from the NOC. A few root alerts on
//! the core (the BGP sessions and the link that went down) and thousands of children on
//! the edge (every interface and peer behind the cut), some of them repeats of alerts
//! already sent, the way Alertmanager re-sends what still fires.
//!
//! The storm is a pure function of its parameters: alert `i` is always the same alert,
//! so every scenario and every target sees the same storm, and batches can be built on
//! the fly without holding the whole storm in memory.

use std::collections::BTreeMap;

use clap::Args;

/// Interfaces per edge device: children are spread over devices of this many ports.
const PORTS_PER_DEVICE: u64 = 48;

#[derive(Args, Clone, Debug)]
pub struct StormArgs {
    /// Alerts to send in all.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub alerts: u64,
    /// Alerts per request (webhook array, gRPC batch).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,
    /// Root alerts (core BGP sessions and links) at the head of the storm; the rest are
    /// their children on the edge.
    #[arg(long, default_value_t = 8)]
    pub roots: u64,
    /// Percent of alerts that repeat a fingerprint sent earlier in the storm (0 = every
    /// alert new).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub repeat_percent: u8,
    /// The site every alert of the storm is at.
    #[arg(long, default_value = "IAD1")]
    pub site: String,
}

/// One alert of the storm, as every wire format needs it.
pub struct StormAlert {
    pub fingerprint: String,
    pub summary: String,
    /// `critical` for roots, `warning` for children.
    pub severity: &'static str,
    pub labels: BTreeMap<&'static str, String>,
}

#[derive(Clone, Debug)]
pub struct Storm {
    pub run: String,
    pub args: StormArgs,
}

impl Storm {
    pub fn new(run: String, args: StormArgs) -> Self {
        Self { run, args }
    }

    pub fn batches(&self) -> u64 {
        self.args.alerts.div_ceil(self.args.batch)
    }

    /// The alerts of batch `b`, in order.
    pub fn batch(&self, b: u64) -> impl Iterator<Item = StormAlert> + '_ {
        let first = b * self.args.batch;
        let last = (first + self.args.batch).min(self.args.alerts);
        (first..last).map(|i| self.alert(i))
    }

    /// How many alerts batch `b` holds (the last one may be short).
    pub fn batch_len(&self, b: u64) -> u64 {
        let first = b * self.args.batch;
        (first + self.args.batch).min(self.args.alerts) - first
    }

    /// The identities of batch `b`'s alerts, without building them.
    pub fn keys(&self, b: u64) -> impl Iterator<Item = u64> + '_ {
        let first = b * self.args.batch;
        (first..first + self.batch_len(b)).map(|i| self.key(i))
    }

    /// Alert `i`: a repeat takes the identity of an earlier alert.
    pub fn alert(&self, i: u64) -> StormAlert {
        let key = self.key(i);
        let run = &self.run;
        let site = &self.args.site;
        let mut labels = BTreeMap::new();
        labels.insert("loadtest_run", run.clone());
        labels.insert("site", site.clone());
        let (summary, severity) = if key < self.args.roots {
            let device = format!("core-{}", key / 2);
            labels.insert("alertname", "BGPSessionDown".into());
            labels.insert("peer_ip", format!("192.0.2.{}", key % 250 + 1));
            let summary = format!("BGP session to 192.0.2.{} down on {device}", key % 250 + 1);
            labels.insert("device", device);
            (summary, "critical")
        } else {
            let child = key - self.args.roots;
            let device = format!("edge-{}", child / PORTS_PER_DEVICE);
            let interface = format!("xe-0/0/{}", child % PORTS_PER_DEVICE);
            let alertname = if child.is_multiple_of(2) {
                "InterfaceDown"
            } else {
                "PeerUnreachable"
            };
            let summary = format!("{alertname} {interface} on {device}");
            labels.insert("alertname", alertname.into());
            labels.insert("device", device);
            labels.insert("interface", interface);
            (summary, "warning")
        };
        labels.insert("severity", severity.into());
        StormAlert {
            fingerprint: format!("{run}-{key:012x}"),
            summary,
            severity,
            labels,
        }
    }

    /// The identity of alert `i`: itself, or for a repeat the identity of an earlier
    /// alert (followed down, since that one may be a repeat too).
    fn key(&self, mut i: u64) -> u64 {
        while i > 0 && self.is_repeat(i) {
            i = mix(i ^ 0x5bd1_e995) % i;
        }
        i
    }

    fn is_repeat(&self, i: u64) -> bool {
        i >= self.args.roots && mix(i) % 100 < u64::from(self.args.repeat_percent)
    }
}

/// SplitMix64's finaliser: a cheap, well-spread hash, so repeats fall evenly.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storm(alerts: u64, repeat_percent: u8) -> Storm {
        Storm::new(
            "t".into(),
            StormArgs {
                alerts,
                batch: 100,
                roots: 8,
                repeat_percent,
                site: "IAD1".into(),
            },
        )
    }

    #[test]
    fn roots_lead_and_children_follow() {
        let s = storm(1000, 0);
        assert_eq!(s.alert(0).labels["alertname"], "BGPSessionDown");
        assert_eq!(s.alert(0).severity, "critical");
        assert_eq!(s.alert(8).labels["alertname"], "InterfaceDown");
        assert_eq!(s.alert(9).labels["alertname"], "PeerUnreachable");
        assert_eq!(s.alert(8 + 48).labels["device"], "edge-1");
    }

    #[test]
    fn without_repeats_every_alert_is_new_and_labels_are_unique() {
        let s = storm(5000, 0);
        let keys: std::collections::HashSet<u64> = (0..5000).map(|i| s.key(i)).collect();
        assert_eq!(keys.len(), 5000);
        let label_sets: std::collections::HashSet<_> =
            (0..5000).map(|i| s.alert(i).labels).collect();
        assert_eq!(label_sets.len(), 5000, "Alertmanager dedups by label set");
    }

    #[test]
    fn repeats_reuse_earlier_identities_in_the_asked_proportion() {
        let s = storm(10_000, 30);
        let repeats = (0..10_000).filter(|&i| s.key(i) != i).count();
        assert!((2_700..3_300).contains(&repeats), "{repeats} repeats");
        assert!((0..10_000).all(|i| s.key(i) <= i));
        assert_eq!(s.alert(7777).fingerprint, s.alert(s.key(7777)).fingerprint);
    }

    #[test]
    fn batches_cover_the_storm_once() {
        let s = storm(1050, 0);
        assert_eq!(s.batches(), 11);
        let sent: u64 = (0..s.batches()).map(|b| s.batch(b).count() as u64).sum();
        assert_eq!(sent, 1050);
        assert_eq!(s.batch(10).count(), 50);
    }
}
