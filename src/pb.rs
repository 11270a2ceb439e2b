//! The generated protobuf types and services of every public API (`alerting.v1`,
//! `alerting.routing.v1`, `notification.v1`, `directory.v1`): used by the inbound edges,
//! the outbound gRPC clients (the kneutral-api directory) and the load harness. The
//! service implementations live in the gRPC edge (`src/grpc/`).

pub mod alerting {
    pub mod v1 {
        tonic::include_proto!("alerting.v1");
    }
    pub mod routing {
        pub mod v1 {
            tonic::include_proto!("alerting.routing.v1");
        }
    }
}
pub mod notification {
    pub mod v1 {
        tonic::include_proto!("notification.v1");
    }
}
pub mod directory {
    pub mod v1 {
        tonic::include_proto!("directory.v1");
    }
}
/// Every service's descriptors, for server reflection.
pub const DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/oncall_descriptor.bin"));

/// A wire timestamp of an instant.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}
