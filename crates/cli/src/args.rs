//! Command-line arguments only: every flag of every subcommand, with its environment
//! variable where one makes sense. No behaviour lives here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ragmesh",
    version,
    about = "Self-hosted retrieval-augmented generation"
)]
pub struct Cli {
    /// Configuration file (TOML); RAGMESH__SECTION__KEY environment variables override it.
    #[arg(long, global = true, env = "RAGMESH_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run all four services in this process (gateway on --listen, backends on loopback ports).
    Up(UpArgs),
    /// Run one service alone, configured by file/environment (for multi-process deployments).
    Serve(ServeArgs),
    /// Manage the model files.
    Models(ModelsArgs),
    /// Send files or folders (.txt, .md, .html, .pdf, .docx) to a running gateway; resumable.
    Ingest(IngestArgs),
    /// Ask a running gateway a question.
    Query(QueryArgs),
    /// Measure retrieval or answer quality on a public benchmark.
    Eval(EvalArgs),
    /// Save a consistent archive of a collection from a running gateway (it keeps serving).
    Backup(BackupArgs),
    /// Restore an archive made by `ragmesh backup` through a running gateway.
    Restore(RestoreArgs),
    /// Run many instances of every service on this machine behind the load balancer.
    Cluster(ClusterArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Pretty,
    Json,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address of the HTTP gateway.
    #[arg(long, default_value = "127.0.0.1:8080", env = "RAGMESH_LISTEN")]
    pub listen: String,
    /// Where collections are stored.
    #[arg(long, default_value = "./data", env = "RAGMESH_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Where models are stored (fetched there when missing).
    #[arg(long, env = "RAGMESH_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Also ingest the project's documentation into collection `default`.
    #[arg(long)]
    pub demo: bool,
    /// Folder ingested by --demo (default: the docs/ folder of this source tree, else ./docs).
    #[arg(long)]
    pub demo_dir: Option<PathBuf>,
    /// Log format on this terminal.
    #[arg(long, value_enum, default_value = "pretty")]
    pub log_format: LogFormatArg,
    /// Write the gateway URL here (JSON) once every service is ready; used by scripts and tests.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ServiceName {
    Gateway,
    Retrieval,
    Rerank,
    Generation,
    /// The Pingora load balancer in front of gateways or a gRPC service (`[lb]` settings).
    Lb,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(value_enum)]
    pub service: ServiceName,
    /// Listen address; overrides the service's `listen` setting (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<String>,
    /// Write the bound address here (JSON) once listening (`lb`: once it proxies).
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Address of the `/metrics` and `/log-level` listener of a gRPC service; overrides its
    /// `metrics_listen` setting (port 0 picks a free port, written to the ready file).
    #[arg(long)]
    pub metrics_listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download, verify and unpack the default models (idempotent).
    Fetch(ModelsFetchArgs),
    /// Show which models are present and verified.
    Status(ModelsDirArg),
}

#[derive(Debug, Args)]
pub struct ModelsDirArg {
    /// Models directory (default: RAGMESH_MODELS_DIR or ~/.cache/ragmesh/models).
    #[arg(long, env = "RAGMESH_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ModelsFetchArgs {
    #[command(flatten)]
    pub dir: ModelsDirArg,
    /// Package index (PEP 691 simple API), e.g. a mirror.
    #[arg(long, env = "RAGMESH_INDEX_URL")]
    pub index_url: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct GatewayArg {
    /// Gateway base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "RAGMESH_URL")]
    pub url: String,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or folders (folders are walked recursively; .txt, .md, .markdown, .html, .htm,
    /// .pdf and .docx files are sent, others are listed as skipped).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long, short, default_value = "default")]
    pub collection: String,
    #[command(flatten)]
    pub gateway: GatewayArg,
    /// Most files per request.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Most file bytes per request (keep it under the gateway's `max_body_bytes`, 16 MiB by
    /// default); a larger file is sent alone.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub batch_bytes: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 2)]
    pub parallel: usize,
    /// Journal of acknowledged files (default: one per gateway, collection and paths in
    /// $XDG_CACHE_HOME/ragmesh/ingest-journals/, else ~/.cache/ragmesh/ingest-journals/).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Ignore the journal: send every file again (the journal is then rewritten).
    #[arg(long)]
    pub restart: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    pub query: String,
    #[arg(long, short, default_value = "default")]
    pub collection: String,
    #[arg(long, short, default_value_t = 5)]
    pub k: u32,
    /// hybrid, vector or bm25.
    #[arg(long, default_value = "hybrid")]
    pub method: String,
    /// Rerank the candidates with the cross-encoder.
    #[arg(long)]
    pub rerank: bool,
    /// Print tokens as they are generated.
    #[arg(long)]
    pub stream: bool,
    /// Print the raw JSON response.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gateway: GatewayArg,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub command: EvalCommand,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// nDCG@10, recall@100, MRR@10 and latency per retrieval method on a BEIR-layout folder.
    Beir(EvalBeirArgs),
    /// Citation rate and precision, supported sentences, loops, ROUGE-L/token F1 and latency of
    /// the answers to a PubMedQA-layout set, asked through /api/query.
    Answers(EvalAnswersArgs),
}

/// The `answer_mode` sent with every question.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AnswerModeArg {
    /// The model writes the answer.
    Generate,
    /// The answer is composed from source sentences, without the model.
    Extractive,
}

impl AnswerModeArg {
    pub fn label(self) -> &'static str {
        match self {
            AnswerModeArg::Generate => "generate",
            AnswerModeArg::Extractive => "extractive",
        }
    }
}

#[derive(Debug, Args)]
pub struct EvalAnswersArgs {
    /// Folder with `items.jsonl` (PubMedQA layout: id, question, contexts, long_answer,
    /// final_decision).
    #[arg(long)]
    pub data: PathBuf,
    /// Gateway to measure. Without it every service starts in this process on a free port
    /// (answer cache off), over a temporary data directory that is removed afterwards.
    #[arg(long)]
    pub url: Option<String>,
    /// Collection to ingest into (default: `answers-` and the data folder's name).
    #[arg(long, short)]
    pub collection: Option<String>,
    /// Skip the ingest when the collection already holds every abstract.
    #[arg(long)]
    pub reuse: bool,
    /// Ask only the first N questions (every abstract is still ingested).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Questions in flight at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Sources per question (default: the gateway's).
    #[arg(long, short)]
    pub k: Option<u32>,
    /// `answer_mode` of every question (default: not sent, the gateway's default).
    #[arg(long, value_enum)]
    pub answer_mode: Option<AnswerModeArg>,
    /// Documents per ingest request.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Print the report as JSON, every question's scores included.
    #[arg(long)]
    pub json: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// A retrieval configuration the harness measures.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum EvalMethod {
    Bm25,
    Vector,
    /// Hybrid retrieval with the service's default fusion (score fusion unless configured).
    Hybrid,
    /// Hybrid retrieval fused with reciprocal rank fusion (the baseline score fusion replaced).
    #[value(name = "hybrid-rrf")]
    HybridRrf,
    /// Hybrid retrieval reordered by the rerank service.
    #[value(name = "hybrid+rerank")]
    HybridRerank,
}

#[derive(Debug, Args)]
pub struct EvalBeirArgs {
    /// BEIR folder: corpus.jsonl, queries.jsonl and qrels/test.tsv.
    #[arg(long)]
    pub data: PathBuf,
    /// Gateway to measure. Without it every service starts in this process on a free port,
    /// over a temporary data directory that is removed afterwards.
    #[arg(long)]
    pub url: Option<String>,
    /// Collection to ingest into (default: `beir-` and the data folder's name).
    #[arg(long, short)]
    pub collection: Option<String>,
    /// Skip the ingest when the collection already holds every corpus document.
    #[arg(long)]
    pub reuse: bool,
    /// Evaluate only the first N test queries (in queries.jsonl order).
    #[arg(long)]
    pub max_queries: Option<usize>,
    /// Methods to measure, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "bm25,vector,hybrid,hybrid-rrf,hybrid+rerank"
    )]
    pub methods: Vec<EvalMethod>,
    /// Documents per ingest request.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write each method's document rankings here as a TREC run (`<method>.run`), to
    /// check the scores with trec_eval/pytrec_eval or study them.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[arg(long, short)]
    pub collection: String,
    /// Archive file to write (replaced only once the whole archive has arrived).
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub gateway: GatewayArg,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Archive made by `ragmesh backup`.
    pub file: PathBuf,
    /// Restore under this name (default: the collection's name in the archive).
    #[arg(long, short)]
    pub collection: Option<String>,
    /// Replace an existing collection of that name (otherwise that is refused).
    #[arg(long)]
    pub replace: bool,
    #[command(flatten)]
    pub gateway: GatewayArg,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start every process of a multi-instance cluster on loopback ports, the load balancer in
    /// front, and a redis-server when none answers; prints the entry URL and returns.
    Up(ClusterUpArgs),
    /// Stop exactly the processes `cluster up` started in --dir (SIGTERM, then SIGKILL).
    Down(ClusterDirArg),
    /// Show every member of the cluster in --dir, whether it runs, and its URLs.
    Status(ClusterDirArg),
    /// Start one member again (after a crash or a kill), on the same port and data directory;
    /// a member still running is stopped gracefully first.
    Restart(ClusterRestartArgs),
}

#[derive(Debug, Args)]
pub struct ClusterDirArg {
    /// Folder holding the cluster's state file, logs and data.
    #[arg(long, default_value = "./cluster", env = "RAGMESH_CLUSTER_DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ClusterUpArgs {
    #[command(flatten)]
    pub dir: ClusterDirArg,
    /// Address of the load balancer: the cluster's entry point.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[arg(long, default_value_t = 2)]
    pub gateways: usize,
    #[arg(long, default_value_t = 1)]
    pub retrieval_shards: usize,
    #[arg(long, default_value_t = 1)]
    pub retrieval_replicas: usize,
    #[arg(long, default_value_t = 1)]
    pub rerank: usize,
    #[arg(long, default_value_t = 1)]
    pub generation: usize,
    /// Redis for the shared cache tier (`redis://host:port`). Default: 127.0.0.1:6379 when
    /// something answers there, else a redis-server this cluster starts (and stops).
    #[arg(long, conflicts_with = "own_redis")]
    pub redis: Option<String>,
    /// Always start a private redis-server on a free port (tests kill it without touching
    /// anyone else's Redis).
    #[arg(long)]
    pub own_redis: bool,
    /// Extra `KEY=VALUE` environment for every ragmesh process (repeatable), e.g.
    /// `RAGMESH__GENERATION__MAX_NEW_TOKENS=64`.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ClusterRestartArgs {
    #[command(flatten)]
    pub dir: ClusterDirArg,
    /// Member name as `cluster status` shows it, e.g. `gateway-2` or `retrieval-s1-r0`.
    pub member: String,
}
