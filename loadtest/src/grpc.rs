//! The storm over gRPC: `IngestAlerts` streams (one durable ack per batch) and unary
//! `BatchCreateAlerts`.

use std::collections::HashMap;

use anyhow::Context;
use clap::ValueEnum;
use oncall::pb::alerting::v1 as pb;
use pb::alert_service_client::AlertServiceClient;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::drive::{Connection, Outcome};
use crate::storm::Storm;
use crate::target::bearer;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Rpc {
    /// The bidirectional `IngestAlerts` stream, one stream per connection.
    Stream,
    /// Unary `BatchCreateAlerts`, one call at a time per connection.
    Batch,
}

fn inputs(storm: &Storm, b: u64) -> Vec<pb::AlertInput> {
    storm
        .batch(b)
        .map(|alert| pb::AlertInput {
            summary: alert.summary,
            severity: match alert.severity {
                "critical" => pb::Severity::Critical,
                _ => pb::Severity::Medium,
            } as i32,
            labels: alert
                .labels
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<HashMap<_, _>>(),
            fingerprint: alert.fingerprint,
            source: "loadtest".into(),
            ..Default::default()
        })
        .collect()
}

/// An open `IngestAlerts` stream: requests in through the sender, acks out of the
/// response stream.
struct OpenStream {
    requests: mpsc::Sender<pb::IngestAlertsRequest>,
    acks: tonic::Streaming<pb::IngestAlertsResponse>,
}

pub struct GrpcConnection {
    client: AlertServiceClient<Channel>,
    rpc: Rpc,
    key: String,
    stream: Option<OpenStream>,
}

impl GrpcConnection {
    /// A connection of its own (one HTTP/2 connection per harness connection, as the
    /// HTTP scenarios have).
    pub async fn connect(url: &str, rpc: Rpc, key: String) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(url.to_string())?
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))?;
        Ok(Self {
            client: AlertServiceClient::new(channel)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20),
            rpc,
            key,
            stream: None,
        })
    }

    async fn open_stream(&mut self) -> Result<OpenStream, tonic::Status> {
        let (requests, outgoing) = mpsc::channel(4);
        let request = bearer(
            tokio_stream::wrappers::ReceiverStream::new(outgoing),
            &self.key,
        )
        .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        let acks = self.client.ingest_alerts(request).await?.into_inner();
        Ok(OpenStream { requests, acks })
    }

    async fn over_stream(&mut self, storm: &Storm, b: u64) -> Outcome {
        let mut open = match self.stream.take() {
            Some(open) => open,
            None => match self.open_stream().await {
                Ok(open) => open,
                Err(status) => return rejected(&status),
            },
        };
        let request = pb::IngestAlertsRequest {
            batch_id: b,
            service_id: String::new(),
            alerts: inputs(storm, b),
        };
        if open.requests.send(request).await.is_err() {
            return Outcome::Failed("stream closed".into());
        }
        match open.acks.message().await {
            Ok(Some(ack)) if ack.batch_id == b => {
                self.stream = Some(open);
                Outcome::Acked
            }
            Ok(Some(ack)) => Outcome::Failed(format!("ack for batch {} not {b}", ack.batch_id)),
            Ok(None) => Outcome::Failed("stream ended".into()),
            // The stream is over after an error status; the next batch opens another.
            Err(status) => rejected(&status),
        }
    }

    async fn unary(&mut self, storm: &Storm, b: u64) -> Outcome {
        let request = match bearer(
            pb::BatchCreateAlertsRequest {
                service_id: String::new(),
                alerts: inputs(storm, b),
            },
            &self.key,
        ) {
            Ok(request) => request,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        match self.client.batch_create_alerts(request).await {
            Ok(_) => Outcome::Acked,
            Err(status) => rejected(&status),
        }
    }
}

fn rejected(status: &tonic::Status) -> Outcome {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
            if status.message().contains("transport") =>
        {
            Outcome::Failed("transport".into())
        }
        code => Outcome::Rejected(format!("{code:?}")),
    }
}

impl Connection for GrpcConnection {
    async fn send(&mut self, storm: &Storm, batch: u64) -> Outcome {
        match self.rpc {
            Rpc::Stream => self.over_stream(storm, batch).await,
            Rpc::Batch => self.unary(storm, batch).await,
        }
    }
}
