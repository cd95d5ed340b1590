//! Tests that use the machine's shared Redis (127.0.0.1:6379) write under a prefix of their
//! own and delete exactly those keys afterwards: the shared Redis is never flushed, so tests
//! running side by side (and other users of that Redis) keep their data.

use std::process::Command;

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
