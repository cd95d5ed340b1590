//! gRPC contracts shared by every ragmesh service. The `.proto` files in `proto/` are the
//! source of truth; this crate only includes the code `build.rs` generates from them.

#[allow(clippy::all, clippy::unwrap_used, missing_docs)]
pub mod v1 {
    tonic::include_proto!("ragmesh.v1");
}

pub use v1::*;

/// The encoded `FileDescriptorSet` of every ragmesh `.proto` (imports included), served by
/// gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ragmesh_v1_descriptor.bin"));
