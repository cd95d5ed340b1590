//! Logs: the subscriber every process installs ([`install`]), the JSON line each event
//! becomes ([`json_lines`]), the writer that takes lines off the request path
//! ([`line_batcher`]) and the level that can change at run time ([`level`]).

mod install;
mod json_lines;
mod level;
mod line_batcher;

pub use install::init_logging;
pub use json_lines::JsonLines;
pub use level::{log_level, set_log_level};
pub use line_batcher::{BatchedStdout, flush_logs};
