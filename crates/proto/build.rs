//! Compiles `proto/ragmesh/v1/*.proto` with protox (pure Rust, no protoc) and generates the
//! tonic clients and servers into OUT_DIR.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["retrieval.proto", "rerank.proto", "generation.proto"]
        .map(|f| root.join("ragmesh/v1").join(f));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
