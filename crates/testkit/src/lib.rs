//! Shared helpers for ragmesh tests: the real models on disk, and (in `process`) real ragmesh
//! processes on free loopback ports. Tests use real parts; these helpers keep them short.

mod models;

pub use models::models_dir;
