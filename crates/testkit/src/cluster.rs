//! A real multi-process ragmesh cluster for tests, started and stopped with the product's own
//! `ragmesh cluster up|restart|down` (so the tests exercise what developers run), in a
//! temporary folder, with members that can be killed (SIGKILL) and restarted by name.
//! Dropping the handle stops every member.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// The load balancer's URL: where clients send requests.
    pub entry_url: String,
}

impl Cluster {
    /// `ragmesh cluster up` with `args` (e.g. `--gateways 2`), the LB on a free port and a
    /// private redis-server. Panics with the command's output when it fails.
    pub fn up(bin: &Path, args: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let dir_arg = dir.path().display().to_string();
        let mut argv = vec![
            "cluster",
            "up",
            "--dir",
            &dir_arg,
            "--listen",
            "127.0.0.1:0",
            "--own-redis",
        ];
        argv.extend_from_slice(args);
        let out = run(bin, &argv);
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            dir,
            entry_url: String::new(),
        };
        if !out.status.success() {
            let logs = cluster.all_log_tails();
            panic!(
                "ragmesh cluster up failed:\n{}\n{logs}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        cluster.entry_url = cluster.state()["entry_url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        cluster
    }

    /// The cluster's state file as JSON (members, pids, addresses).
    pub fn state(&self) -> Value {
        let path = self.dir.path().join("cluster.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// One member's entry of the state file.
    pub fn member(&self, name: &str) -> Value {
        self.state()["members"]
            .as_array()
            .and_then(|members| members.iter().find(|m| m["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no cluster member {name}"))
    }

    /// `host:port` a member serves on.
    pub fn addr(&self, name: &str) -> String {
        self.member(name)["addr"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Base URL of a member's `/metrics`: its own listener, or the gateway's main port.
    pub fn metrics_url(&self, name: &str) -> String {
        let member = self.member(name);
        let addr = member["metrics_addr"]
            .as_str()
            .or(member["addr"].as_str())
            .unwrap_or_default();
        format!("http://{addr}")
    }

    /// SIGKILL to the member's process group: a crash, no chance to drain.
    pub fn kill(&self, name: &str) {
        let pid = self.member(name)["pid"].as_u64().unwrap_or(0);
        assert!(pid > 0, "{name} has no pid");
        let status = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success(), "kill -9 {name} (pid {pid}) failed");
    }

    /// `ragmesh cluster restart NAME`: graceful stop if it runs, start on the same port, wait
    /// until it listens (and, for a gateway, until it is ready).
    pub fn restart(&self, name: &str) {
        let dir = self.dir.path().display().to_string();
        let out = run(&self.bin, &["cluster", "restart", "--dir", &dir, name]);
        assert!(
            out.status.success(),
            "ragmesh cluster restart {name} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail(name)
        );
    }

    /// The last lines a member logged.
    pub fn log_tail(&self, name: &str) -> String {
        let path = self.dir.path().join(format!("logs/{name}.log"));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn all_log_tails(&self) -> String {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("logs")) else {
            return String::new();
        };
        entries
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().replace(".log", "");
                format!("--- {name}\n{}", self.log_tail(&name))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `ragmesh cluster down`; returns its report (which members stopped, which were killed).
    pub fn down(&self) -> String {
        let dir = self.dir.path().display().to_string();
        let out = run(&self.bin, &["cluster", "down", "--dir", &dir]);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.dir.path().join("cluster.json").exists() {
            self.down();
        }
    }
}

fn run(bin: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin)
        .args(args)
        .env("RAGMESH_MODELS_DIR", crate::models_dir())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
}

/// Sum of every sample of `name` at `base/metrics` whose labels contain all of `labels`
/// (e.g. `route="/api/query"`); 0 when there is none or the endpoint does not answer.
pub async fn metric_sum(base: &str, name: &str, labels: &[&str]) -> f64 {
    let Ok(response) = reqwest::get(format!("{base}/metrics")).await else {
        return 0.0;
    };
    let Ok(text) = response.text().await else {
        return 0.0;
    };
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
