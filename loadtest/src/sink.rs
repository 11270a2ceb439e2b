//! A webhook sink: answers 200 to every POST and prints how many arrive each second. The
//! destination for `--notify-webhook`, so the cost of routing that notifies can be
//! measured without a real receiver in the way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let received = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/", post(take))
        .route("/{*path}", post(take))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("webhook sink on http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        let mut last = 0;
        loop {
            ticks.tick().await;
            let now = received.load(Ordering::Relaxed);
            if now != last {
                println!("received {now} ({}/s)", now - last);
                last = now;
            }
        }
    });
    axum::serve(listener, app).await?;
    Ok(())
}

async fn take(State(received): State<Arc<AtomicU64>>, _body: axum::body::Bytes) -> StatusCode {
    received.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}
