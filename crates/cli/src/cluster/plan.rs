//! What `cluster up` starts: one member per process, each with a fixed loopback port chosen up
//! front (so a restarted member comes back where its callers expect it), its own data
//! directory and log, and the environment that wires it to the others — gateways get every
//! backend instance (shards separated by `;`, replicas by `,`), the load balancer gets every
//! gateway.

use super::state::Member;
use crate::args::ClusterUpArgs;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Where each kind of member sits and what connects them.
pub struct Plan {
    pub members: Vec<Member>,
    pub entry_url: String,
    pub redis_url: String,
}

/// How the cluster reaches Redis.
pub enum RedisChoice {
    /// An existing server at this URL.
    Existing(String),
    /// A redis-server this cluster starts on this port.
    Own(u16),
}

/// A free loopback port: bound, then released for the member to bind.
pub fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free local port")?;
    Ok(listener.local_addr()?.port())
}

/// Loopback ports for the members of one plan, all distinct. Each port is drawn by binding
/// `127.0.0.1:0` and the listener is held until the whole plan is built: a port released at
/// once could be handed out again by the kernel to the next draw, putting two members on one
/// port. Ports already taken by the plan (e.g. its own Redis) are excluded and drawn again.
#[derive(Default)]
struct PortPicker {
    held: Vec<std::net::TcpListener>,
    taken: std::collections::HashSet<u16>,
}

impl PortPicker {
    /// Marks `port` as taken, so no later draw returns it.
    fn exclude(&mut self, port: u16) {
        self.taken.insert(port);
    }

    /// A loopback address on a port no earlier draw returned.
    fn loopback(&mut self) -> anyhow::Result<String> {
        loop {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")
                .context("cannot find a free local port")?;
            let port = listener.local_addr()?.port();
            // Every earlier draw is still bound, so the kernel cannot repeat it; only an
            // excluded port can come back, and that one is drawn again (held meanwhile).
            let fresh = self.taken.insert(port);
            self.held.push(listener);
            if fresh {
                return Ok(format!("127.0.0.1:{port}"));
            }
        }
    }
}

/// Builds the members in start order: redis (if started here), backends, gateways, the LB.
pub fn build(
    args: &ClusterUpArgs,
    config: Option<&Path>,
    redis: RedisChoice,
) -> anyhow::Result<Plan> {
    for (flag, n) in [
        ("--gateways", args.gateways),
        ("--retrieval-shards", args.retrieval_shards),
        ("--retrieval-replicas", args.retrieval_replicas),
        ("--rerank", args.rerank),
        ("--generation", args.generation),
    ] {
        if !(1..=16).contains(&n) {
            anyhow::bail!("{flag} must be in 1..=16, got {n}");
        }
    }
    let extra_env = parse_env(&args.env)?;
    let dir = absolute(&args.dir.dir)?;
    let exe = std::env::current_exe().context("cannot find the ragmesh executable")?;
    let mut members = Vec::new();
    // Held until the plan is built (dropped on return), so no two members share a port.
    let ports = std::cell::RefCell::new(PortPicker::default());
    if let Some(port) = args
        .listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
    {
        ports.borrow_mut().exclude(port);
    }

    let redis_url = match redis {
        RedisChoice::Existing(url) => url,
        RedisChoice::Own(port) => {
            ports.borrow_mut().exclude(port);
            let addr = format!("127.0.0.1:{port}");
            members.push(Member {
                name: "redis".into(),
                kind: "redis".into(),
                program: PathBuf::from("redis-server"),
                // Append-only file on: besides the cache, Redis holds the hinted-handoff
                // queues of writes a retrieval replica missed, which must survive a restart.
                args: [
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    port.to_string().as_str(),
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--dir",
                    dir.join("data").display().to_string().as_str(),
                ]
                .map(str::to_string)
                .to_vec(),
                env: Vec::new(),
                addr: addr.clone(),
                metrics_addr: None,
                ready_file: None,
                log: dir.join("logs/redis.log"),
                pid: 0,
                start_ticks: 0,
            });
            format!("redis://{addr}")
        }
    };

    let service =
        |name: String, kind: &str, env: Vec<(String, String)>| -> anyhow::Result<Member> {
            let addr = ports.borrow_mut().loopback()?;
            let metrics_addr = (kind != "gateway")
                .then(|| ports.borrow_mut().loopback())
                .transpose()?;
            let ready_file = dir.join(format!("run/{name}.ready.json"));
            let mut argv: Vec<String> = Vec::new();
            if let Some(config) = config {
                argv.push("--config".into());
                argv.push(absolute(config)?.display().to_string());
            }
            argv.extend(["serve", kind, "--listen", addr.as_str()].map(str::to_string));
            if let Some(m) = &metrics_addr {
                argv.extend(["--metrics-listen".to_string(), m.clone()]);
            }
            argv.extend(["--ready-file".to_string(), ready_file.display().to_string()]);
            let mut all_env = vec![
                ("RAGMESH__TELEMETRY__INSTANCE".to_string(), name.clone()),
                (
                    "RAGMESH__TELEMETRY__LOG_FORMAT".to_string(),
                    "json".to_string(),
                ),
            ];
            all_env.extend(env);
            all_env.extend(extra_env.iter().cloned());
            Ok(Member {
                log: dir.join(format!("logs/{name}.log")),
                name,
                kind: kind.to_string(),
                program: exe.clone(),
                args: argv,
                env: all_env,
                addr,
                metrics_addr,
                ready_file: Some(ready_file),
                pid: 0,
                start_ticks: 0,
            })
        };

    let mut shards = Vec::new();
    for s in 0..args.retrieval_shards {
        let mut replicas = Vec::new();
        for r in 0..args.retrieval_replicas {
            let name = format!("retrieval-s{s}-r{r}");
            let data = dir.join("data").join(&name);
            let member = service(
                name,
                "retrieval",
                vec![(
                    "RAGMESH__RETRIEVAL__DATA_DIR".into(),
                    data.display().to_string(),
                )],
            )?;
            replicas.push(member.url());
            members.push(member);
        }
        shards.push(replicas.join(","));
    }
    let mut pool = |kind: &str, n: usize| -> anyhow::Result<String> {
        let mut urls = Vec::new();
        for i in 0..n {
            let member = service(format!("{kind}-{i}"), kind, Vec::new())?;
            urls.push(member.url());
            members.push(member);
        }
        Ok(urls.join(","))
    };
    let rerank_urls = pool("rerank", args.rerank)?;
    let generation_urls = pool("generation", args.generation)?;

    let mut gateways = Vec::new();
    for i in 0..args.gateways {
        let member = service(
            format!("gateway-{i}"),
            "gateway",
            vec![
                ("RAGMESH__GATEWAY__RETRIEVAL_URL".into(), shards.join(";")),
                ("RAGMESH__GATEWAY__RERANK_URL".into(), rerank_urls.clone()),
                (
                    "RAGMESH__GATEWAY__GENERATION_URL".into(),
                    generation_urls.clone(),
                ),
                ("RAGMESH__CACHE__L2_REDIS_URL".into(), redis_url.clone()),
            ],
        )?;
        gateways.push(member.addr.clone());
        members.push(member);
    }

    let mut lb = service(
        "lb".into(),
        "lb",
        vec![("RAGMESH__LB__UPSTREAMS".into(), gateways.join(","))],
    )?;
    lb.addr = args.listen.clone();
    let listen_at = lb
        .args
        .iter()
        .position(|a| a == "--listen")
        .context("lb command has no --listen")?;
    lb.args[listen_at + 1] = args.listen.clone();
    let entry_url = lb.url();
    members.push(lb);

    Ok(Plan {
        members,
        entry_url,
        redis_url,
    })
}

fn parse_env(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--env expects KEY=VALUE, got {pair:?}"))
        })
        .collect()
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::ClusterDirArg;

    fn args(dir: &Path) -> ClusterUpArgs {
        ClusterUpArgs {
            dir: ClusterDirArg {
                dir: dir.to_path_buf(),
            },
            listen: "127.0.0.1:0".into(),
            gateways: 3,
            retrieval_shards: 2,
            retrieval_replicas: 2,
            rerank: 1,
            generation: 2,
            redis: None,
            own_redis: false,
            env: vec!["RAGMESH__GENERATION__MAX_NEW_TOKENS=16".into()],
        }
    }

    fn env<'a>(member: &'a Member, key: &str) -> &'a str {
        member
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{} has no {key}", member.name))
    }

    #[test]
    fn wires_shards_replicas_pools_gateways_and_the_balancer() {
        let dir = tempfile::tempdir().unwrap();
        let plan = build(&args(dir.path()), None, RedisChoice::Own(6390)).unwrap();
        let names: Vec<&str> = plan.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "redis",
                "retrieval-s0-r0",
                "retrieval-s0-r1",
                "retrieval-s1-r0",
                "retrieval-s1-r1",
                "rerank-0",
                "generation-0",
                "generation-1",
                "gateway-0",
                "gateway-1",
                "gateway-2",
                "lb"
            ]
        );
        let url = |name: &str| plan.members.iter().find(|m| m.name == name).unwrap().url();
        let gateway = &plan.members[8];
        assert_eq!(
            env(gateway, "RAGMESH__GATEWAY__RETRIEVAL_URL"),
            format!(
                "{},{};{},{}",
                url("retrieval-s0-r0"),
                url("retrieval-s0-r1"),
                url("retrieval-s1-r0"),
                url("retrieval-s1-r1")
            )
        );
        assert_eq!(
            env(gateway, "RAGMESH__GATEWAY__GENERATION_URL"),
            format!("{},{}", url("generation-0"), url("generation-1"))
        );
        assert_eq!(
            env(gateway, "RAGMESH__CACHE__L2_REDIS_URL"),
            "redis://127.0.0.1:6390"
        );
        assert_eq!(env(gateway, "RAGMESH__GENERATION__MAX_NEW_TOKENS"), "16");
        let lb = plan.members.last().unwrap();
        let gateways: Vec<String> = plan.members[8..11].iter().map(|m| m.addr.clone()).collect();
        assert_eq!(env(lb, "RAGMESH__LB__UPSTREAMS"), gateways.join(","));
        // Every member has its own port, and each retrieval replica its own data directory.
        let mut addrs: Vec<&str> = plan.members.iter().map(|m| m.addr.as_str()).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), plan.members.len());
        let data: Vec<&str> = plan.members[1..5]
            .iter()
            .map(|m| env(m, "RAGMESH__RETRIEVAL__DATA_DIR"))
            .collect();
        assert_eq!(
            data.iter().collect::<std::collections::HashSet<_>>().len(),
            4
        );
    }

    /// Every port a plan hands out (listen and metrics, every member, its Redis) is distinct,
    /// even for the largest cluster `cluster up` accepts: ports released right after they were
    /// drawn used to come back from the kernel, and two members then shared one.
    #[test]
    fn a_large_plan_never_gives_two_members_one_port() {
        let dir = tempfile::tempdir().unwrap();
        let mut big = args(dir.path());
        big.listen = "127.0.0.1:18080".into();
        (big.gateways, big.retrieval_shards, big.retrieval_replicas) = (16, 16, 4);
        (big.rerank, big.generation) = (16, 16);
        let redis_port = free_port().unwrap();
        let plan = build(&big, None, RedisChoice::Own(redis_port)).unwrap();
        let mut ports = Vec::new();
        for member in &plan.members {
            ports.push(member.addr.clone());
            ports.extend(member.metrics_addr.clone());
        }
        assert_eq!(plan.members.len(), 1 + 64 + 16 + 16 + 16 + 1);
        let total = ports.len();
        assert!(total > 200, "{total}");
        let distinct: std::collections::HashSet<&String> = ports.iter().collect();
        assert_eq!(distinct.len(), total, "a port was planned twice: {ports:?}");
    }

    /// A port the plan already uses for something else is never drawn for a member.
    #[test]
    fn the_picker_skips_excluded_ports() {
        let released = free_port().unwrap();
        let mut picker = PortPicker::default();
        picker.exclude(released);
        let drawn: Vec<String> = (0..64).map(|_| picker.loopback().unwrap()).collect();
        assert!(!drawn.contains(&format!("127.0.0.1:{released}")));
        let distinct: std::collections::HashSet<&String> = drawn.iter().collect();
        assert_eq!(distinct.len(), drawn.len());
    }

    #[test]
    fn rejects_zero_instances_and_malformed_env() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = args(dir.path());
        bad.generation = 0;
        let err = build(&bad, None, RedisChoice::Own(6390)).err().unwrap();
        assert!(err.to_string().contains("--generation"), "{err}");
        let mut bad = args(dir.path());
        bad.env = vec!["NOEQUALS".into()];
        let err = build(&bad, None, RedisChoice::Own(6390)).err().unwrap();
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
    }
}
