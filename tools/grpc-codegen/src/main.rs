//! Writes `mlops-serve/src/grpc/generated/inference.rs` from `mlops-serve/proto/inference.proto`:
//! protox parses the .proto in Rust (no protoc), tonic-prost-build writes the prost messages and
//! the tonic server. Run from anywhere: paths are relative to this crate.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let proto_dir = root.join("mlops-serve/proto");
    let out = root.join("mlops-serve/src/grpc/generated");
    std::fs::create_dir_all(&out)?;
    let fds = protox::compile([proto_dir.join("inference.proto")], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .build_transport(false)
        .out_dir(&out)
        .compile_fds(fds)?;
    println!("wrote {}", out.join("inference.rs").display());
    Ok(())
}
