//! Redis for tests. Tests that use the machine's shared Redis (127.0.0.1:6379) write under a
//! prefix of their own and delete exactly those keys afterwards ([`delete_redis_keys`]): the
//! shared Redis is never flushed, so tests running side by side (and other users of that
//! Redis) keep their data. A test that kills and restarts Redis starts a private
//! `redis-server` ([`RedisServer`]) instead, on a free port of its own.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Deletes every key under `prefix` in the Redis on 127.0.0.1:6379 (with `redis-cli`).
pub fn delete_redis_keys(prefix: &str) {
    let keys = Command::new("redis-cli")
        .args(["-p", "6379", "--scan", "--pattern", &format!("{prefix}*")])
        .output()
        .unwrap_or_else(|e| panic!("redis-cli must be installed (.ci/run installs redis): {e}"));
    for key in String::from_utf8_lossy(&keys.stdout).lines() {
        let _ = Command::new("redis-cli")
            .args(["-p", "6379", "del", key])
            .output();
    }
}

/// How many ports [`RedisServer::start`] tries before it gives up.
const PORT_ATTEMPTS: usize = 10;
/// How long a redis-server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A private `redis-server` without persistence, on a loopback port chosen when it first
/// starts. Dropping it kills the server.
pub struct RedisServer {
    child: Option<Child>,
    /// Its port: the same across [`RedisServer::restart`].
    pub port: u16,
}

impl RedisServer {
    /// Starts a redis-server on a free port. The port is found by binding port 0 and
    /// releasing it, so another process may take it first: the server is only accepted once
    /// the Redis answering on that port reports this server's process id, and another port
    /// is drawn otherwise.
    pub fn start() -> RedisServer {
        for _ in 0..PORT_ATTEMPTS {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap_or_else(|e| panic!("no free port: {e}"))
                .port();
            if let Some(child) = spawn_on(port) {
                return RedisServer {
                    child: Some(child),
                    port,
                };
            }
        }
        panic!("redis-server did not start on any of {PORT_ATTEMPTS} free ports");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: Redis is gone at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (after [`RedisServer::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let child = spawn_on(self.port).unwrap_or_else(|| {
            panic!(
                "redis-server could not start again on {}: the port was taken",
                self.port
            )
        });
        self.child = Some(child);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A redis-server on `port`, once it answers there as itself; None when it exits (the port
/// was taken) or another process answers.
fn spawn_on(port: u16) -> Option<Child> {
    let mut child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-server must be installed (.ci/run installs it): {e}"));
    let me = format!("process_id:{}", child.id());
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        let info = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "info", "server"])
            .output();
        if let Ok(info) = info {
            let text = String::from_utf8_lossy(&info.stdout);
            if text.lines().any(|l| l.trim() == me) {
                return Some(child);
            }
            if text.contains("process_id:") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
