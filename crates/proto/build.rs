//! Compiles `proto/ragmesh/v1/*.proto` with protox (pure Rust, no protoc), generates the
//! tonic clients and servers into OUT_DIR, and writes the encoded file descriptor set there
//! too, for gRPC server reflection.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["retrieval.proto", "rerank.proto", "generation.proto"]
        .map(|f| root.join("ragmesh/v1").join(f));
    // Relative to this package, so a target directory shared by two checkouts still sees
    // a change made in either (an absolute path would name the first checkout's files).
    for f in ["retrieval.proto", "rerank.proto", "generation.proto"] {
        println!("cargo:rerun-if-changed=../../proto/ragmesh/v1/{f}");
    }
    let mut compiler = protox::Compiler::new([&root])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(&files)?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("ragmesh_v1_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
