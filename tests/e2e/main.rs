//! The end-to-end tests: the real `ragmesh` binary (built by cargo for this test target) run
//! as users and operators run it — `ragmesh up`, `ragmesh serve <service>` topologies,
//! `ragmesh cluster`, the CLI's own commands — with real models, real gRPC, a real Redis and
//! the real deploy tools. One test binary with one module per area, so the suite links once;
//! `support` holds the HTTP/SSE calls and fixtures the modules share, and
//! `ragmesh_testkit` starts the processes (see its `Topology`).
//!
//! The tests of this binary run in parallel threads of one process. Those that start
//! processes take a share of the machine first (`ragmesh_testkit::machine`): most take one
//! of two slots, the heaviest or most timing-sensitive take both and so run alone.

// Test code: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod answers;
mod backend_failure;
mod backup;
mod bad_input;
mod cache;
mod deploy_manifests;
mod deploy_promtool;
mod durability;
mod eval_answers;
mod eval_beir;
mod failover;
mod generation_providers;
mod grpc_tools;
mod hostile;
mod lb;
mod observability;
mod persistence;
mod query;
mod resilience;
mod shards;
mod traces;
mod upload_formats;
