//! The flap dampener: one actor that owns the route-flap state of every BGP peer
//! (`domain::enrich::PeerFlaps`) and the timer of each peer's open window. The router
//! asks it about each route-flap alert before carrying out the alert's actions; when a
//! window that held flaps ends, the summary goes out on `summaries` and the router runs
//! the first held alert's actions with it.
//!
//! Its clock is tokio's, anchored to the wall clock once at start, so timers and the
//! state machine agree and tests can pause time.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::domain::enrich::{FlapSummary, FlapVerdict, PeerFlaps};

/// Most peers tracked at once; past it a flap notifies as any alert would.
const MAX_PEERS: usize = 100_000;

/// What the dampener says about one flap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlapAnswer {
    pub verdict: FlapVerdict,
    /// The peer has had more than 10 flaps in a window and not yet 10 quiet minutes.
    pub flapping: bool,
}

pub enum FlapMsg {
    Observe {
        peer: String,
        alert: Uuid,
        reply: RpcReplyPort<FlapAnswer>,
    },
    /// A peer's window is due to end.
    WindowEnd(String),
}

/// A window's summary, with the peer it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSummary {
    pub peer: String,
    pub summary: FlapSummary,
}

pub struct FlapDampener;

pub struct FlapArgs {
    pub window: Duration,
    pub summaries: mpsc::Sender<PeerSummary>,
}

pub struct FlapState {
    window: Duration,
    summaries: mpsc::Sender<PeerSummary>,
    peers: HashMap<String, PeerFlaps>,
    started: (Instant, DateTime<Utc>),
}

impl FlapState {
    fn now(&self) -> DateTime<Utc> {
        let (instant, wall) = self.started;
        let elapsed =
            chrono::Duration::from_std(instant.elapsed()).unwrap_or(chrono::Duration::MAX);
        wall + elapsed
    }

    fn chrono_window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::minutes(1))
    }
}

impl Actor for FlapDampener {
    type Msg = FlapMsg;
    type State = FlapState;
    type Arguments = FlapArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<FlapMsg>,
        args: FlapArgs,
    ) -> Result<FlapState, ActorProcessingErr> {
        Ok(FlapState {
            window: args.window,
            summaries: args.summaries,
            peers: HashMap::new(),
            started: (Instant::now(), crate::clock::now()),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<FlapMsg>,
        message: FlapMsg,
        state: &mut FlapState,
    ) -> Result<(), ActorProcessingErr> {
        let now = state.now();
        match message {
            FlapMsg::Observe { peer, alert, reply } => {
                if !state.peers.contains_key(&peer) && state.peers.len() >= MAX_PEERS {
                    tracing::warn!(
                        peers = MAX_PEERS,
                        "flap dampening at its peer cap; notifying undampened"
                    );
                    let _ = reply.send(FlapAnswer {
                        verdict: FlapVerdict::Notify,
                        flapping: false,
                    });
                    return Ok(());
                }
                let window = state.chrono_window();
                let flaps = state
                    .peers
                    .entry(peer.clone())
                    .or_insert_with(|| PeerFlaps::new(window));
                let verdict = flaps.observe(alert, now);
                let answer = FlapAnswer {
                    verdict,
                    flapping: flaps.is_flapping(now),
                };
                if verdict == FlapVerdict::Notify {
                    // A new window opened: its end is the next thing to do for this peer.
                    myself.send_after(state.window, move || FlapMsg::WindowEnd(peer));
                }
                let _ = reply.send(answer);
            }
            FlapMsg::WindowEnd(peer) => {
                let Some(flaps) = state.peers.get_mut(&peer) else {
                    return Ok(());
                };
                let summary = flaps.close_window(now);
                if let Some(end) = flaps.window_end() {
                    let wait = (end - now).to_std().unwrap_or(Duration::ZERO);
                    let next = peer.clone();
                    myself.send_after(wait, move || FlapMsg::WindowEnd(next));
                } else if flaps.is_idle(now) {
                    state.peers.remove(&peer);
                }
                if let Some(summary) = summary
                    && state
                        .summaries
                        .send(PeerSummary { peer, summary })
                        .await
                        .is_err()
                {
                    tracing::warn!("router stopped; a route-flap summary was not sent");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ask(dampener: &ActorRef<FlapMsg>, peer: &str, alert: u128) -> FlapAnswer {
        dampener
            .call(
                |reply| FlapMsg::Observe {
                    peer: peer.into(),
                    alert: Uuid::from_u128(alert),
                    reply,
                },
                None,
            )
            .await
            .expect("call")
            .expect("answer")
    }

    #[tokio::test(start_paused = true)]
    async fn a_hundred_flaps_in_thirty_seconds_notify_once_then_summarise_once() {
        let (summaries, mut out) = mpsc::channel(16);
        let (dampener, _) = Actor::spawn(
            None,
            FlapDampener,
            FlapArgs {
                window: Duration::from_secs(60),
                summaries,
            },
        )
        .await
        .expect("spawn");
        let mut notified = 0;
        for i in 0..100 {
            if ask(&dampener, "edge-01/195.66.224.1", i).await.verdict == FlapVerdict::Notify {
                notified += 1;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Another peer is dampened on its own.
        assert_eq!(
            ask(&dampener, "edge-02/10.0.0.1", 500).await.verdict,
            FlapVerdict::Notify
        );
        assert_eq!(notified, 1);
        let summary = tokio::time::timeout(Duration::from_secs(31), out.recv())
            .await
            .expect("the summary by the end of the minute")
            .expect("summary");
        assert_eq!(summary.peer, "edge-01/195.66.224.1");
        assert_eq!(summary.summary.held, 99);
        assert_eq!(summary.summary.first_held, Uuid::from_u128(1));
        assert!(summary.summary.flapping);
        // Nothing more: the next minute held nothing, and edge-02 had a single flap.
        assert!(
            tokio::time::timeout(Duration::from_secs(600), out.recv())
                .await
                .is_err()
        );
        dampener.stop(None);
    }
}
