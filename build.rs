//! Compiles `proto/` with protox (pure Rust: no system `protoc` needed) and writes the
//! descriptor set that gRPC server reflection serves.

use prost::Message;

const PROTOS: &[&str] = &[
    "proto/alerting/v1/alert.proto",
    "proto/alerting/v1/catalog.proto",
    "proto/alerting/routing/v1/carrier.proto",
    "proto/alerting/routing/v1/customer_tier.proto",
    "proto/alerting/routing/v1/equipment_type.proto",
    "proto/alerting/routing/v1/escalation.proto",
    "proto/alerting/routing/v1/maintenance.proto",
    "proto/alerting/routing/v1/routing.proto",
    "proto/alerting/routing/v1/schedule.proto",
    "proto/alerting/routing/v1/site.proto",
    "proto/alerting/routing/v1/team.proto",
    "proto/directory/v1/user.proto",
    "proto/notification/v1/notification.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("oncall_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
