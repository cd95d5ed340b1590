//! The `ragmesh` binary: parses the command line and hands over to the CLI library.

fn main() -> std::process::ExitCode {
    ragmesh_cli::main_entry()
}
