//! Shared helpers for ragmesh tests: the real models on disk (fetched by the project's own
//! fetcher when missing) and real ragmesh processes on free loopback ports. Tests use real
//! parts; these helpers keep them short.

mod models;
mod process;

pub use models::models_dir;
pub use process::RagmeshProcess;
