//! One way for tests to start a multi-process deployment: retrieval (shards × replicas), rerank,
//! generation, gateways and a load balancer, each a real `ragmesh serve SERVICE` process on
//! port 0 (its address read from its ready file), wired to each other by the same
//! `RAGMESH__GATEWAY__*_URL` / `RAGMESH__LB__UPSTREAMS` settings operators use, and waited
//! for until they serve. A service a topology leaves out is a closed port ([`CLOSED_URL`]) in
//! the gateway's settings, so calls to it fail fast instead of reaching a default address.
//!
//! ```no_run
//! # async fn example(bin: &std::path::Path) {
//! use ragmesh_testkit::Topology;
//! let stack = Topology::new(bin)
//!     .retrieval(&[])
//!     .rerank(&[])
//!     .generation(&[("RAGMESH__GENERATION__MAX_NEW_TOKENS", "48")])
//!     .gateway(&[])
//!     .start()
//!     .await; // every backend ready behind the gateway
//! let base = stack.url();
//! # let _ = base; }
//! ```

use crate::RagmeshProcess;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A loopback address nothing listens on (port 9, below the ephemeral range, so no process a
/// test starts on port 0 can be handed it): a backend that is down.
pub const CLOSED_URL: &str = "http://127.0.0.1:9";

/// How long the gateways may take to serve (first model loads in a debug build included).
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the load balancer may take to see a ready gateway.
const LB_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`Stack::wait_ready`] waits for on each gateway of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Nothing beyond each process listening (its ready file).
    Listening,
    /// `GET /api/collections` answers 200: the retrieval service has loaded its model.
    Retrieval,
    /// `GET /health/ready` answers 200: every backend answers its health check.
    Backends,
}

type Env = Vec<(String, String)>;

fn owned(env: &[(&str, &str)]) -> Env {
    env.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What to start; [`Topology::spawn`] or [`Topology::start`] starts it.
#[derive(Debug, Clone)]
pub struct Topology {
    bin: PathBuf,
    every: Env,
    /// Replicas per retrieval shard; empty: no retrieval service.
    shards: Vec<usize>,
    retrieval: Env,
    rerank: Option<Env>,
    generation: Option<Env>,
    gateways: usize,
    gateway: Env,
    lb: Option<Env>,
    readiness: Option<Readiness>,
}

impl Topology {
    /// Nothing yet: add services with the methods below.
    pub fn new(bin: &Path) -> Topology {
        Topology {
            bin: bin.to_path_buf(),
            every: Vec::new(),
            shards: Vec::new(),
            retrieval: Vec::new(),
            rerank: None,
            generation: None,
            gateways: 0,
            gateway: Vec::new(),
            lb: None,
            readiness: None,
        }
    }

    /// Settings for every process of the topology (e.g. the OTLP endpoint).
    pub fn env(mut self, env: &[(&str, &str)]) -> Topology {
        self.every.extend(owned(env));
        self
    }

    /// One retrieval service (one shard, one replica) over a data directory of its own.
    pub fn retrieval(self, env: &[(&str, &str)]) -> Topology {
        self.retrieval_shards(&[1], env)
    }

    /// Retrieval shards with `replicas[i]` replicas in shard `i`, each over a data directory of
    /// its own; `env` applies to every replica.
    pub fn retrieval_shards(mut self, replicas: &[usize], env: &[(&str, &str)]) -> Topology {
        self.shards = replicas.to_vec();
        self.retrieval.extend(owned(env));
        self
    }

    /// One rerank service.
    pub fn rerank(mut self, env: &[(&str, &str)]) -> Topology {
        self.rerank = Some(owned(env));
        self
    }

    /// One generation service.
    pub fn generation(mut self, env: &[(&str, &str)]) -> Topology {
        self.generation = Some(owned(env));
        self
    }

    /// One gateway over the backends, with `env` after the wiring (so it may override it).
    pub fn gateway(self, env: &[(&str, &str)]) -> Topology {
        self.gateways(1, env)
    }

    /// `n` gateways over the backends, each with `env`.
    pub fn gateways(mut self, n: usize, env: &[(&str, &str)]) -> Topology {
        self.gateways = n;
        self.gateway.extend(owned(env));
        self
    }

    /// `ragmesh serve lb` in front of the gateways.
    pub fn lb(mut self, env: &[(&str, &str)]) -> Topology {
        self.lb = Some(owned(env));
        self
    }

    /// What [`Topology::start`] waits for. Default: [`Readiness::Backends`] when retrieval,
    /// rerank and generation all run, [`Readiness::Retrieval`] when retrieval runs without
    /// one of the others, [`Readiness::Listening`] without retrieval.
    pub fn readiness(mut self, readiness: Readiness) -> Topology {
        self.readiness = Some(readiness);
        self
    }

    fn default_readiness(&self) -> Readiness {
        match (
            self.shards.is_empty(),
            self.rerank.is_some() && self.generation.is_some(),
        ) {
            (true, _) => Readiness::Listening,
            (false, true) => Readiness::Backends,
            (false, false) => Readiness::Retrieval,
        }
    }

    /// Starts every process (each listening) without waiting for models: use it to start
    /// several topologies at once, then [`Stack::wait_ready`] on each.
    pub fn spawn(self) -> Stack {
        let serve = |service: &str, env: &Env| {
            let env: Vec<(&str, &str)> = self
                .every
                .iter()
                .chain(env)
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            RagmeshProcess::serve(&self.bin, service, &env)
        };
        let mut data = Vec::new();
        let mut retrieval = Vec::new();
        for &replicas in &self.shards {
            let mut shard = Vec::new();
            let mut dirs = Vec::new();
            for _ in 0..replicas {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
                let mut env = vec![(
                    "RAGMESH__RETRIEVAL__DATA_DIR".to_string(),
                    dir.path().display().to_string(),
                )];
                env.extend(self.retrieval.iter().cloned());
                shard.push(serve("retrieval", &env));
                dirs.push(dir);
            }
            retrieval.push(shard);
            data.push(dirs);
        }
        let rerank = self.rerank.as_ref().map(|env| serve("rerank", env));
        let generation = self.generation.as_ref().map(|env| serve("generation", env));
        let mut stack = Stack {
            readiness: self.readiness.unwrap_or_else(|| self.default_readiness()),
            retrieval,
            rerank,
            generation,
            gateways: Vec::new(),
            lb: None,
            data,
            spec: self,
        };
        for _ in 0..stack.spec.gateways {
            let gateway = stack.add_gateway(&[]);
            stack.gateways.push(gateway);
        }
        if let Some(env) = &stack.spec.lb {
            let upstreams: Vec<&str> = stack.gateways.iter().map(|g| g.addr()).collect();
            let mut env = env.clone();
            env.insert(0, ("RAGMESH__LB__UPSTREAMS".into(), upstreams.join(",")));
            stack.lb = Some(stack.serve("lb", &env));
        }
        stack
    }

    /// [`Topology::spawn`], then [`Stack::wait_ready`].
    pub async fn start(self) -> Stack {
        let stack = self.spawn();
        stack.wait_ready().await;
        stack
    }
}

/// A started topology. Dropping it kills every process and removes the data directories.
pub struct Stack {
    /// Retrieval replicas by shard: `retrieval[shard][replica]`.
    pub retrieval: Vec<Vec<RagmeshProcess>>,
    pub rerank: Option<RagmeshProcess>,
    pub generation: Option<RagmeshProcess>,
    pub gateways: Vec<RagmeshProcess>,
    pub lb: Option<RagmeshProcess>,
    readiness: Readiness,
    data: Vec<Vec<tempfile::TempDir>>,
    spec: Topology,
}

impl Stack {
    fn serve(&self, service: &str, env: &Env) -> RagmeshProcess {
        self.serve_on(service, "127.0.0.1:0", env)
    }

    fn serve_on(&self, service: &str, listen: &str, env: &Env) -> RagmeshProcess {
        let env: Vec<(&str, &str)> = self
            .spec
            .every
            .iter()
            .chain(env)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        RagmeshProcess::serve_on(&self.spec.bin, service, listen, &env)
    }

    /// Where clients send requests: the load balancer when there is one, else the first
    /// gateway.
    pub fn url(&self) -> &str {
        match (&self.lb, self.gateways.first()) {
            (Some(lb), _) => &lb.url,
            (None, Some(gateway)) => &gateway.url,
            (None, None) => panic!("the topology has no gateway"),
        }
    }

    /// The first gateway.
    pub fn gateway(&self) -> &RagmeshProcess {
        self.gateways
            .first()
            .unwrap_or_else(|| panic!("the topology has no gateway"))
    }

    /// The gateway's `retrieval_url`: replicas of a shard joined by `,`, shards by `;`
    /// ([`CLOSED_URL`] without retrieval).
    pub fn retrieval_url(&self) -> String {
        if self.retrieval.is_empty() {
            return CLOSED_URL.into();
        }
        self.retrieval
            .iter()
            .map(|shard| {
                shard
                    .iter()
                    .map(|r| r.url.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Starts another gateway over this topology's backends with the topology's gateway
    /// settings, then `extra` (which may override the wiring). Returns at once: use
    /// [`wait_ready`] to wait for it.
    pub fn add_gateway(&self, extra: &[(&str, &str)]) -> RagmeshProcess {
        let url = |p: &Option<RagmeshProcess>| {
            p.as_ref()
                .map_or_else(|| CLOSED_URL.to_string(), |p| p.url.clone())
        };
        let mut env = vec![
            (
                "RAGMESH__GATEWAY__RETRIEVAL_URL".to_string(),
                self.retrieval_url(),
            ),
            ("RAGMESH__GATEWAY__RERANK_URL".into(), url(&self.rerank)),
            (
                "RAGMESH__GATEWAY__GENERATION_URL".into(),
                url(&self.generation),
            ),
        ];
        env.extend(self.spec.gateway.iter().cloned());
        env.extend(owned(extra));
        self.serve("gateway", &env)
    }

    /// Waits until every gateway is ready as the topology's [`Readiness`] says, and the
    /// load balancer (if any) until its `/health/ready` is 200.
    pub async fn wait_ready(&self) {
        for gateway in &self.gateways {
            wait_ready(gateway, self.readiness).await;
        }
        if let Some(lb) = &self.lb {
            wait_for_status(lb, "/health/ready", LB_READY_TIMEOUT).await;
        }
    }

    /// Data directory of one retrieval replica.
    pub fn retrieval_data_dir(&self, shard: usize, replica: usize) -> &Path {
        self.data[shard][replica].path()
    }

    /// Starts retrieval replica `replica` of `shard` again on its old address and data
    /// directory, where the gateways look for it (after [`RagmeshProcess::kill`]).
    pub fn restart_retrieval(&mut self, shard: usize, replica: usize) {
        let addr = self.retrieval[shard][replica].addr().to_string();
        let mut env = vec![(
            "RAGMESH__RETRIEVAL__DATA_DIR".to_string(),
            self.retrieval_data_dir(shard, replica)
                .display()
                .to_string(),
        )];
        env.extend(self.spec.retrieval.iter().cloned());
        // The old process must be gone before its port is taken again.
        self.retrieval[shard][replica].kill();
        self.retrieval[shard][replica] = self.serve_on("retrieval", &addr, &env);
    }
}

/// Waits until `gateway` is ready as `readiness` says; panics with its log after five
/// minutes.
pub async fn wait_ready(gateway: &RagmeshProcess, readiness: Readiness) {
    match readiness {
        Readiness::Listening => {}
        Readiness::Retrieval => wait_for_status(gateway, "/api/collections", READY_TIMEOUT).await,
        Readiness::Backends => wait_for_status(gateway, "/health/ready", READY_TIMEOUT).await,
    }
}

/// Polls `GET {process}{path}` until it answers 200.
async fn wait_for_status(process: &RagmeshProcess, path: &str, bound: Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("http client: {e}"));
    let url = format!("{}{path}", process.url);
    let start = Instant::now();
    loop {
        let status = client.get(&url).send().await.map(|r| r.status().as_u16());
        if status.as_ref().is_ok_and(|s| *s == 200) {
            return;
        }
        assert!(
            start.elapsed() < bound,
            "{url} not 200 after {bound:?} (last: {status:?}); log:\n{}",
            process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
