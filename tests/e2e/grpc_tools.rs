//! Off-the-shelf gRPC tools can probe every ragmesh service: the real Python
//! `grpcio-health-checking` client asks a real `ragmesh serve rerank` process for its
//! grpc.health.v1 status, and the `grpcio-reflection` client lists its services and fetches
//! the descriptors of `ragmesh.v1.Rerank` (CI installs both with pip; see `.ci/run`).

use crate::support::*;
use ragmesh_testkit::{RagmeshProcess, machine};
use serde_json::Value;
use std::process::Command;

#[test]
fn python_health_and_reflection_clients_see_a_serving_service() {
    let _machine = machine::shared_blocking();
    let rerank = RagmeshProcess::serve(ragmesh_bin(), "rerank", &[]);
    let probe = probe(rerank.addr(), "ragmesh.v1.Rerank");
    assert_eq!(probe["service"], "SERVING", "{probe}");
    assert_eq!(probe["overall"], "SERVING", "{probe}");
    assert_eq!(
        probe["unknown"], "error:NOT_FOUND",
        "an unknown service is NOT_FOUND, as the health protocol says: {probe}"
    );
    let services: Vec<&str> = probe["reflected_services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for expected in [
        "ragmesh.v1.Rerank",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(services.contains(&expected), "{expected} in {services:?}");
    }
    assert!(
        probe["descriptor_files"].as_i64().unwrap() >= 1,
        "descriptors of ragmesh.v1.Rerank: {probe}"
    );
}

/// While the generation model is still loading, the standard health client sees
/// `ragmesh.v1.Generation` as NOT_SERVING (load balancers and Kubernetes probes keep traffic
/// away) while the server itself ("") is up. The model path is a named pipe: opening it blocks
/// until a writer comes, so "still loading" lasts exactly as long as this test needs.
#[test]
fn python_health_client_sees_not_serving_while_the_model_loads() {
    let _machine = machine::shared_blocking();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("model.gguf");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let fifo = fifo.display().to_string();
    let generation = RagmeshProcess::serve(
        ragmesh_bin(),
        "generation",
        &[("RAGMESH__GENERATION__GGUF_PATH", fifo.as_str())],
    );
    let probe = probe(generation.addr(), "ragmesh.v1.Generation");
    assert_eq!(probe["service"], "NOT_SERVING", "{probe}");
    assert_eq!(probe["overall"], "SERVING", "{probe}");
}

/// Runs tests/grpc_probe.py (the real Python gRPC clients) against `addr` for `service` and
/// returns the JSON it prints.
fn probe(addr: &str, service: &str) -> Value {
    let script = repo().join("tests/grpc_probe.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(addr)
        .arg(service)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "probe failed (is `pip install grpcio grpcio-health-checking grpcio-reflection` done?): {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}
