//! Starting and stopping cluster members as detached processes: each runs in its own process
//! group (Ctrl-C in the terminal that ran `cluster up` does not reach it; `down` signals the
//! whole group), logs to a file, and is recognised later by its pid *and* start time, so a
//! recycled pid is never signalled.

use super::state::Member;
use anyhow::Context;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a member may take to listen (first model load included).
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// Starts `member` (detached) and records its pid. Its ready file, if any, is removed first so
/// a stale one is never mistaken for the new process.
pub fn spawn(member: &mut Member) -> anyhow::Result<()> {
    if let Some(ready) = &member.ready_file {
        let _ = std::fs::remove_file(ready);
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&member.log)
        .with_context(|| format!("cannot open {}", member.log.display()))?;
    let child = Command::new(&member.program)
        .args(&member.args)
        .envs(member.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", member.program.display()))?;
    member.pid = child.id();
    member.start_ticks = start_ticks(member.pid).unwrap_or(0);
    // The child is not waited for: it outlives this command, and `down` stops it by pid.
    drop(child);
    Ok(())
}

/// Whether the member's recorded pid is still this member: alive, not a zombie, and started
/// when we started it (a command line would not do: redis-server rewrites its own).
pub fn is_running(member: &Member) -> bool {
    member.pid != 0
        && parse_stat(member.pid)
            .is_some_and(|(state, ticks)| state != 'Z' && ticks == member.start_ticks)
}

fn start_ticks(pid: u32) -> Option<u64> {
    parse_stat(pid).map(|(_, ticks)| ticks)
}

/// State letter and start time (clock ticks after boot) from `/proc/PID/stat`.
fn parse_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 of the whole line is the 20th after the name.
    let ticks = fields.get(19)?.parse().ok()?;
    Some((state, ticks))
}

/// Sends `signal` (e.g. `TERM`, `KILL`) to the member's process group.
pub fn signal(member: &Member, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{}", member.pid))
        .stderr(Stdio::null())
        .status()
        .context("cannot run kill")?;
    if !status.success() && is_running(member) {
        anyhow::bail!("kill -{signal} {} failed", member.pid);
    }
    Ok(())
}

/// SIGTERM, wait up to `grace` for a clean exit, then SIGKILL. Returns whether it exited
/// within the grace period.
pub async fn stop(member: &Member, grace: Duration) -> anyhow::Result<bool> {
    if !is_running(member) {
        return Ok(true);
    }
    signal(member, "TERM")?;
    let started = Instant::now();
    while started.elapsed() < grace {
        if !is_running(member) {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(member, "KILL")?;
    while is_running(member) && started.elapsed() < grace + Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}

/// Waits (at most `bound`) until `addr` can be bound again. A process whose main thread has
/// exited can still hold its sockets while its other threads finish, so "not running" is not
/// yet "port free": a restart right after a kill would otherwise fail with "address in use".
pub async fn wait_port_free(addr: &str, bound: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && started.elapsed() < bound => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => anyhow::bail!("{addr} is not free: {e}"),
        }
    }
}

/// Waits until the member listens: its ready file exists (ragmesh services) or its port
/// accepts connections (redis). Fails early, with the log's tail, if it exits.
pub async fn wait_listening(member: &Member) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let ready = match &member.ready_file {
            Some(path) => path.exists(),
            None => tokio::net::TcpStream::connect(&member.addr).await.is_ok(),
        };
        if ready {
            return Ok(());
        }
        if !is_running(member) {
            anyhow::bail!(
                "{} exited during start-up; last log lines:\n{}",
                member.name,
                log_tail(&member.log)
            );
        }
        if started.elapsed() > START_TIMEOUT {
            anyhow::bail!("{} not listening after {START_TIMEOUT:?}", member.name);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of a log file (for error messages).
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
