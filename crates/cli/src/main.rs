//! The `ragmesh` binary: parses the command line and hands over to the CLI library. Every
//! service runs in this binary, so the process allocator is chosen here: mimalloc (feature
//! `mimalloc`, on by default), measured faster than the system allocator on the gateway's
//! request path (docs/benchmarks.md).

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ragmesh_cli::main_entry()
}
