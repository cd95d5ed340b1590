//! The `ragmesh` command-line tool, the single entry point users type: fetch the models, run
//! every service in one process (`up`) or one service alone (`serve`), talk to a running
//! gateway (`ingest`, `query`) and measure retrieval quality (`eval`). Each subcommand lives
//! in its own module.

mod args;
mod backup_cmd;
mod cluster;
mod eval;
pub mod http_client;
mod ingest;
mod models_cmd;
mod query;
mod serve;

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

/// Parses arguments, runs the command on a Tokio runtime and turns errors into exit code 1.
pub fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Log lines still waiting for the log writer thread go out before the process ends.
    ragmesh_telemetry::flush_logs();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config.clone();
    match cli.command {
        Command::Up(a) => serve::up::run(config.as_deref(), a).await,
        Command::Serve(a) => serve::run(config.as_deref(), a).await,
        Command::Models(a) => models_cmd::run(config.as_deref(), a).await,
        Command::Ingest(a) => ingest::run(a).await,
        Command::Query(a) => query::run(a).await,
        Command::Backup(a) => backup_cmd::backup(a).await,
        Command::Restore(a) => backup_cmd::restore(a).await,
        Command::Eval(a) => eval::run(config.as_deref(), a).await,
        Command::Cluster(a) => cluster::run(config.as_deref(), a).await,
    }
}
