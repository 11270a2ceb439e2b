//! A webhook sink: answers 200 to every POST and counts what arrives, by path. The
//! destination for `--notify-webhook` and for the escalation scenario's pages, so what
//! oncall sends can be counted without a real receiver in the way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::post;

/// POSTs received, by request path.
#[derive(Default)]
pub struct Received {
    by_path: Mutex<BTreeMap<String, u64>>,
}

impl Received {
    pub fn at(&self, path: &str) -> u64 {
        self.counts().get(path).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.counts().values().sum()
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        // A poisoned count only means a handler panicked mid-increment.
        self.by_path
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Starts a sink in the background; its address and its counts.
pub async fn start(listen: SocketAddr) -> anyhow::Result<(SocketAddr, Arc<Received>)> {
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route("/", post(take))
        .route("/{*path}", post(take))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((address, received))
}

/// The `sink` subcommand: a sink that prints how many arrive each second, until stopped.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let (address, received) = start(listen).await?;
    println!("webhook sink on http://{address}");
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let mut last = 0;
    loop {
        ticks.tick().await;
        let now = received.total();
        if now != last {
            println!("received {now} ({}/s)", now - last);
            last = now;
        }
    }
}

async fn take(
    State(received): State<Arc<Received>>,
    uri: Uri,
    _body: axum::body::Bytes,
) -> StatusCode {
    *received.counts().entry(uri.path().to_string()).or_default() += 1;
    StatusCode::OK
}
