//! Waiting for a gRPC service to report SERVING on the standard health protocol
//! (`grpc.health.v1`), for tests that run a service inside the test process rather than as a
//! `ragmesh serve` process with a ready file.

use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long a service may take to serve (a model load in a debug build included).
const SERVING_TIMEOUT: Duration = Duration::from_secs(300);

/// Polls `url`'s health service until `service` is SERVING. `running` says whether the server
/// still runs: when it stops during start-up, the wait fails at once instead of timing out.
pub async fn wait_for_grpc_serving(url: &str, service: &str, running: impl Fn() -> bool) {
    let started = Instant::now();
    loop {
        assert!(running(), "the service stopped during start-up");
        let endpoint =
            Channel::from_shared(url.to_string()).unwrap_or_else(|e| panic!("{url}: {e}"));
        if let Ok(channel) = endpoint.connect().await {
            let request = HealthCheckRequest {
                service: service.into(),
            };
            if let Ok(response) = HealthClient::new(channel).check(request).await
                && response.into_inner().status == ServingStatus::Serving as i32
            {
                return;
            }
        }
        assert!(
            started.elapsed() < SERVING_TIMEOUT,
            "{service} at {url} not serving after {SERVING_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
