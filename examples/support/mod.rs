//! What the measurement examples share: bearer requests and the server's RSS.

use anyhow::Context;

pub fn authed<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

/// A process's resident set, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

/// A new service and an integration key for it: (service id, plaintext key).
pub async fn service_with_key(
    grpc: &str,
    token: &str,
    name: String,
) -> anyhow::Result<(String, String)> {
    use oncall::grpc::pb::alerting::v1 as pb;
    let mut catalog =
        pb::catalog_service_client::CatalogServiceClient::connect(grpc.to_string()).await?;
    let service = catalog
        .create_service(authed(
            pb::CreateServiceRequest {
                name,
                ..Default::default()
            },
            token,
        )?)
        .await?
        .into_inner();
    let key = catalog
        .create_integration_key(authed(
            pb::CreateIntegrationKeyRequest {
                service_id: service.id.clone(),
                name: "measurement".into(),
            },
            token,
        )?)
        .await?
        .into_inner()
        .key;
    Ok((service.id, key))
}
