//! Real ragmesh processes for end-to-end tests: `ragmesh up` or one `ragmesh serve SERVICE`,
//! on port 0 with a ready file, logs captured to a file whose tail is shown when start-up
//! fails. Dropping a handle kills the process, so a failing test leaves nothing running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a process may take to become ready (first model load in a debug build included).
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// A running ragmesh process.
pub struct RagmeshProcess {
    child: Child,
    /// Base URL the process serves (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Base URL of its `/metrics` + `/log-level` listener, when it runs one
    /// (`RAGMESH__<SERVICE>__METRICS_LISTEN=127.0.0.1:0`).
    pub metrics_url: Option<String>,
    log: PathBuf,
    _scratch: tempfile::TempDir,
}

impl RagmeshProcess {
    /// `ragmesh up` on a free port with `data_dir`, plus `env` overrides (e.g.
    /// `RAGMESH__GENERATION__MAX_NEW_TOKENS`). Waits until every service is ready.
    pub fn up(bin: &Path, data_dir: &Path, env: &[(&str, &str)]) -> RagmeshProcess {
        let data = data_dir.display().to_string();
        let args = [
            "up",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
            "--log-format",
            "json",
        ];
        Self::start(bin, &args, env)
    }

    /// `ragmesh serve SERVICE` on a free port, configured by `env`. Ready as soon as it listens;
    /// use the gateway's `/health/ready` to wait for models.
    pub fn serve(bin: &Path, service: &str, env: &[(&str, &str)]) -> RagmeshProcess {
        Self::start(bin, &["serve", service, "--listen", "127.0.0.1:0"], env)
    }

    /// `ragmesh serve SERVICE` listening on `listen` (e.g. the address of a process that was
    /// killed, to restart it where its clients look for it).
    pub fn serve_on(
        bin: &Path,
        service: &str,
        listen: &str,
        env: &[(&str, &str)],
    ) -> RagmeshProcess {
        Self::start(bin, &["serve", service, "--listen", listen], env)
    }

    fn start(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> RagmeshProcess {
        let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let ready = scratch.path().join("ready.json");
        let log = scratch.path().join("process.log");
        let log_file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
        let log_err = log_file
            .try_clone()
            .unwrap_or_else(|e| panic!("log file: {e}"));
        let mut command = Command::new(bin);
        command
            .args(args)
            .arg("--ready-file")
            .arg(&ready)
            .env("RAGMESH_MODELS_DIR", crate::models_dir())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut process = RagmeshProcess {
            child,
            url: String::new(),
            metrics_url: None,
            log,
            _scratch: scratch,
        };
        let ready = process.wait_for_ready_file(&ready);
        process.url = ready["url"].as_str().unwrap_or_default().to_string();
        process.metrics_url = ready["metrics_url"].as_str().map(str::to_string);
        process
    }

    fn wait_for_ready_file(&mut self, ready: &Path) -> serde_json::Value {
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(ready)
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
                && value["url"].is_string()
            {
                return value;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "ragmesh exited during start-up ({status}); log:\n{}",
                    self.log_tail()
                );
            }
            if start.elapsed() > START_TIMEOUT {
                panic!(
                    "ragmesh not ready after {START_TIMEOUT:?}; log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id (to read its `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, in KiB (`VmRSS` in `/proc/<pid>/status`); `None` off Linux or
    /// once the process is gone.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }

    /// The last lines the process logged (for failure messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Everything the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait up to `grace` for a clean exit (SIGKILL after). Returns true when the
    /// process exited by itself with success.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        false
    }

    /// SIGSTOP: the process keeps its sockets but answers nothing (a stalled service).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGHUP: `ragmesh serve lb` re-reads its configuration and applies the new upstreams.
    pub fn hangup(&self) {
        self.signal("-HUP");
    }

    /// SIGCONT after [`RagmeshProcess::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status();
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "kill {signal} {pid} failed"
        );
    }

    /// The address part of `url` (`127.0.0.1:PORT`).
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for RagmeshProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `VmRSS` of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
