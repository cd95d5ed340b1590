//! Health of the backends as `/health/ready` reports it: every instance of each backend is
//! asked grpc.health.v1 concurrently (a backend is serving when one of its instances is; with
//! several retrieval shards, each must have a serving replica), and each backend's circuit
//! breaker state (the worst of its shards).

use crate::backends::Backends;
use crate::backends::backend::Backend;
use ragmesh_rpc::{BreakerState, Upstream};
use std::time::Duration;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// How long `/health/ready` waits for each backend's health answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Health of one backend as `/health/ready` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendHealth {
    Serving,
    NotServing,
    /// No answer: connection refused, deadline, or an RPC error (the message says which).
    Unreachable(String),
}

impl BackendHealth {
    pub fn label(&self) -> String {
        match self {
            BackendHealth::Serving => "serving".into(),
            BackendHealth::NotServing => "not_serving".into(),
            BackendHealth::Unreachable(why) => format!("unavailable: {why}"),
        }
    }
}

impl Backends {
    /// Asks every instance of each backend, concurrently, whether it is SERVING (a backend is
    /// serving when one of its instances is).
    pub async fn health(&self) -> Vec<(Backend, BackendHealth)> {
        let timeout = HEALTH_TIMEOUT.min(self.rpc_timeout);
        let checks = Backend::ALL.map(|backend| async move {
            let groups = self.upstreams(backend);
            let shards = groups.len();
            let answers = futures::future::join_all(
                groups
                    .iter()
                    .map(|upstream| upstream_health(backend, upstream, timeout)),
            )
            .await;
            // With several shards, each must have a serving replica.
            let worst = answers
                .into_iter()
                .enumerate()
                .find(|(_, h)| *h != BackendHealth::Serving)
                .map(|(i, h)| match h {
                    BackendHealth::Unreachable(why) if shards > 1 => {
                        BackendHealth::Unreachable(format!("shard {} of {shards}: {why}", i + 1))
                    }
                    other => other,
                })
                .unwrap_or(BackendHealth::Serving);
            (backend, worst)
        });
        futures::future::join_all(checks).await
    }

    /// Each backend's circuit breaker state (with several retrieval shards, the worst).
    pub fn breakers(&self) -> Vec<(Backend, BreakerState)> {
        Backend::ALL
            .iter()
            .map(|b| {
                let worst = self
                    .upstreams(*b)
                    .iter()
                    .map(|u| u.breaker().state())
                    .max_by_key(|state| match state {
                        BreakerState::Closed => 0,
                        BreakerState::HalfOpen => 1,
                        BreakerState::Open => 2,
                    })
                    .unwrap_or(BreakerState::Closed);
                (*b, worst)
            })
            .collect()
    }
}

/// Health of one upstream: serving when one of its instances is.
async fn upstream_health(
    backend: Backend,
    upstream: &Upstream,
    timeout: Duration,
) -> BackendHealth {
    let answers = futures::future::join_all(
        upstream
            .instances()
            .map(|(_, channel)| check_health(backend, channel.clone(), timeout)),
    )
    .await;
    answers
        .iter()
        .find(|h| **h == BackendHealth::Serving)
        .or_else(|| answers.iter().find(|h| **h == BackendHealth::NotServing))
        .or(answers.first())
        .cloned()
        .unwrap_or(BackendHealth::Unreachable("no instance".into()))
}

async fn check_health(backend: Backend, channel: Channel, timeout: Duration) -> BackendHealth {
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: backend.grpc_service().to_string(),
    });
    request.set_timeout(timeout);
    match tokio::time::timeout(timeout, client.check(request)).await {
        Err(_) => BackendHealth::Unreachable(format!(
            "no health answer within {} ms",
            timeout.as_millis()
        )),
        Ok(Err(status)) => {
            BackendHealth::Unreachable(format!("{:?}: {}", status.code(), status.message()))
        }
        Ok(Ok(response)) => match ServingStatus::try_from(response.into_inner().status) {
            Ok(ServingStatus::Serving) => BackendHealth::Serving,
            _ => BackendHealth::NotServing,
        },
    }
}
