//! The cluster's state file (`<dir>/cluster.json`): every process `cluster up` started, with
//! the exact command that starts it again, so `down` stops exactly those processes and
//! `restart` brings one back on the same port and data directory.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One process of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// Unique name: `lb`, `gateway-0`, `retrieval-s1-r0`, `rerank-0`, `generation-1`, `redis`.
    pub name: String,
    /// What it runs: a ragmesh service name, or `redis`.
    pub kind: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `host:port` it serves on.
    pub addr: String,
    /// `host:port` of its `/metrics` listener (gRPC services and the load balancer).
    pub metrics_addr: Option<String>,
    /// Ready file the process writes once it listens (none for redis).
    pub ready_file: Option<PathBuf>,
    pub log: PathBuf,
    /// Process id of the last start (also its process group id).
    pub pid: u32,
    /// Its start time in clock ticks after boot: a pid reused by another process differs.
    #[serde(default)]
    pub start_ticks: u64,
}

impl Member {
    /// Base URL of what it serves.
    pub fn url(&self) -> String {
        if self.kind == "redis" {
            format!("redis://{}", self.addr)
        } else {
            format!("http://{}", self.addr)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterState {
    /// URL clients use: the load balancer.
    pub entry_url: String,
    /// Redis of the shared cache tier (started by this cluster when a member is named `redis`).
    pub redis_url: String,
    /// In start order; stopped in reverse.
    pub members: Vec<Member>,
}

impl ClusterState {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("cluster.json")
    }

    pub fn load(dir: &Path) -> anyhow::Result<ClusterState> {
        let path = Self::path(dir);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no cluster state at {} (was `ragmesh cluster up` run with this --dir?)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("corrupt {}", path.display()))
    }

    /// Written through a temporary file and a rename: readers never see half of it.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = Self::path(dir);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    pub fn member_mut(&mut self, name: &str) -> anyhow::Result<&mut Member> {
        let names: Vec<String> = self.members.iter().map(|m| m.name.clone()).collect();
        self.members
            .iter_mut()
            .find(|m| m.name == name)
            .with_context(|| format!("no member {name:?}; members: {}", names.join(", ")))
    }
}
