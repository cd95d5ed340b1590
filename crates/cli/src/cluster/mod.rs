//! `ragmesh cluster up|down|status|restart`: a real multi-instance ragmesh on one machine —
//! sharded, replicated retrieval, pools of rerank and generation, several gateways sharing a
//! Redis cache tier, and the load balancer in front — for developers and for the failover
//! tests. Every member is a separate `ragmesh serve` process; `down` stops exactly what `up`
//! started (the state file names each process and the command that started it).

mod plan;
mod process;
mod state;

use crate::args::{ClusterArgs, ClusterCommand, ClusterDirArg, ClusterRestartArgs, ClusterUpArgs};
use crate::http_client::GatewayClient;
use anyhow::Context;
use plan::RedisChoice;
use ragmesh_config::Settings;
use state::{ClusterState, Member};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long `up` waits for every gateway to report all of its backends ready.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a member gets to drain and exit after SIGTERM before SIGKILL (a gateway lets
/// requests in flight run for `gateway.shutdown_grace_ms`, 30 s by default).
const STOP_GRACE: Duration = Duration::from_secs(40);
/// The Redis address tried when none is given.
const DEFAULT_REDIS: &str = "127.0.0.1:6379";

pub async fn run(config: Option<&Path>, args: ClusterArgs) -> anyhow::Result<()> {
    match args.command {
        ClusterCommand::Up(a) => up(config, a).await,
        ClusterCommand::Down(a) => down(&a).await,
        ClusterCommand::Status(a) => status(&a),
        ClusterCommand::Restart(a) => restart(&a).await,
    }
}

async fn up(config: Option<&Path>, args: ClusterUpArgs) -> anyhow::Result<()> {
    let dir = args.dir.dir.clone();
    if let Ok(existing) = ClusterState::load(&dir)
        && existing.members.iter().any(process::is_running)
    {
        anyhow::bail!(
            "a cluster already runs from {} (entry {}); stop it with `ragmesh cluster down --dir {}`",
            dir.display(),
            existing.entry_url,
            dir.display()
        );
    }
    for sub in ["run", "logs", "data"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
    }
    let settings = Settings::load(config)?;
    crate::models_cmd::ensure_models(&settings.models.dir, &settings.models.index_url).await?;

    let redis = choose_redis(&args).await?;
    let plan = plan::build(&args, config, redis)?;
    let mut state = ClusterState {
        entry_url: plan.entry_url,
        redis_url: plan.redis_url,
        members: plan.members,
    };
    eprintln!(
        "starting {} processes (logs in {})",
        state.members.len(),
        dir.join("logs").display()
    );
    if let Err(e) = start_all(&mut state, &dir).await {
        eprintln!("start-up failed; stopping what was started");
        stop_all(&state).await;
        let _ = std::fs::remove_file(ClusterState::path(&dir));
        return Err(e);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", state.entry_url)?;
    Ok(())
}

/// Redis first (gateways connect at start), then every other member at once — gateways dial
/// their backends lazily, so nothing needs to wait for anything else — then readiness.
async fn start_all(state: &mut ClusterState, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    for member in state.members.iter_mut().filter(|m| m.kind == "redis") {
        process::spawn(member)?;
        process::wait_listening(member).await?;
    }
    state.save(dir)?;
    for member in state.members.iter_mut().filter(|m| m.kind != "redis") {
        process::spawn(member)?;
    }
    state.save(dir)?;
    for member in &mut state.members {
        process::wait_listening(member).await?;
        adopt_bound_address(member)?;
    }
    if let Some(lb) = state.members.iter().find(|m| m.kind == "lb") {
        state.entry_url = lb.url();
    }
    state.save(dir)?;
    for member in state.members.iter().filter(|m| m.kind == "gateway") {
        wait_ready(member).await?;
    }
    let entry = GatewayClient::new(&state.entry_url)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !entry.ready().await {
        if Instant::now() > deadline {
            anyhow::bail!(
                "gateways are ready but {} (the load balancer) does not answer /health/ready",
                state.entry_url
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "cluster ready in {:.1}s: {} gateways behind {}",
        started.elapsed().as_secs_f64(),
        state.members.iter().filter(|m| m.kind == "gateway").count(),
        state.entry_url
    );
    Ok(())
}

/// A member asked for port 0 learns its real address from its ready file; later restarts
/// reuse that port.
fn adopt_bound_address(member: &mut Member) -> anyhow::Result<()> {
    let Some(ready) = &member.ready_file else {
        return Ok(());
    };
    if !member.addr.ends_with(":0") {
        return Ok(());
    }
    let text = std::fs::read_to_string(ready)?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let url = value["url"]
        .as_str()
        .with_context(|| format!("{} has no url", ready.display()))?;
    let addr = url.trim_start_matches("http://").to_string();
    if let Some(i) = member.args.iter().position(|a| a == "--listen") {
        member.args[i + 1] = addr.clone();
    }
    member.addr = addr;
    Ok(())
}

async fn wait_ready(gateway: &Member) -> anyhow::Result<()> {
    let client = GatewayClient::new(&gateway.url())?;
    let started = Instant::now();
    while !client.ready().await {
        if !process::is_running(gateway) {
            anyhow::bail!(
                "{} exited; last log lines:\n{}",
                gateway.name,
                process::log_tail(&gateway.log)
            );
        }
        if started.elapsed() > READY_TIMEOUT {
            anyhow::bail!(
                "{} not ready after {READY_TIMEOUT:?} (see {})",
                gateway.name,
                gateway.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

async fn choose_redis(args: &ClusterUpArgs) -> anyhow::Result<RedisChoice> {
    if let Some(url) = &args.redis {
        return Ok(RedisChoice::Existing(url.clone()));
    }
    if !args.own_redis && tokio::net::TcpStream::connect(DEFAULT_REDIS).await.is_ok() {
        return Ok(RedisChoice::Existing(format!("redis://{DEFAULT_REDIS}")));
    }
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        anyhow::bail!(
            "no Redis answers on {DEFAULT_REDIS} and redis-server is not installed; install it \
             (apt-get install redis-server) or pass --redis redis://host:port"
        );
    }
    Ok(RedisChoice::Own(plan::free_port()?))
}

/// Stops every member that still runs, in reverse start order (the load balancer first, Redis
/// last), all members of a stage at once.
async fn stop_all(state: &ClusterState) -> Vec<(String, bool)> {
    let mut results = Vec::new();
    for stage in ["lb", "gateway", "backends", "redis"] {
        let members: Vec<&Member> = state
            .members
            .iter()
            .filter(|m| match stage {
                "backends" => !matches!(m.kind.as_str(), "lb" | "gateway" | "redis"),
                kind => m.kind == kind,
            })
            .collect();
        let stops = members.iter().map(|m| async move {
            let was_running = process::is_running(m);
            let clean = process::stop(m, STOP_GRACE).await.unwrap_or(false);
            (m.name.clone(), was_running, clean)
        });
        for (name, was_running, clean) in futures::future::join_all(stops).await {
            if was_running {
                results.push((name, clean));
            }
        }
    }
    results
}

async fn down(args: &ClusterDirArg) -> anyhow::Result<()> {
    let state = ClusterState::load(&args.dir)?;
    let results = stop_all(&state).await;
    for (name, clean) in &results {
        if *clean {
            eprintln!("stopped {name}");
        } else {
            eprintln!("killed {name} (it did not exit within {STOP_GRACE:?} of SIGTERM)");
        }
    }
    if results.is_empty() {
        eprintln!("nothing was running");
    }
    std::fs::remove_file(ClusterState::path(&args.dir))?;
    Ok(())
}

fn status(args: &ClusterDirArg) -> anyhow::Result<()> {
    let state = ClusterState::load(&args.dir)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "entry  {}", state.entry_url)?;
    writeln!(out, "redis  {}", state.redis_url)?;
    for m in &state.members {
        let running = if process::is_running(m) {
            format!("running pid {}", m.pid)
        } else {
            "stopped".to_string()
        };
        let metrics = m
            .metrics_addr
            .as_deref()
            .map(|a| format!("  metrics http://{a}"))
            .unwrap_or_default();
        writeln!(out, "{:<18} {:<20} {}{metrics}", m.name, running, m.url())?;
    }
    Ok(())
}

async fn restart(args: &ClusterRestartArgs) -> anyhow::Result<()> {
    let dir = &args.dir.dir;
    let mut state = ClusterState::load(dir)?;
    let member = state.member_mut(&args.member)?;
    process::stop(member, STOP_GRACE).await?;
    for addr in std::iter::once(&member.addr).chain(member.metrics_addr.as_ref()) {
        process::wait_port_free(addr, Duration::from_secs(10)).await?;
    }
    process::spawn(member)?;
    let started = member.clone();
    state.save(dir)?;
    process::wait_listening(&started).await?;
    if started.kind == "gateway" {
        wait_ready(&started).await?;
    }
    eprintln!("{} restarted (pid {})", started.name, started.pid);
    Ok(())
}
