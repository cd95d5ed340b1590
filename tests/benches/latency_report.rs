//! Turns the profiles the gateway returns into the numbers docs/benchmarks.md publishes:
//! per-step p50/p95 over a pass of requests, generation token counts, and the machine header
//! (cores, CPU model, date, load average) without which a latency number means nothing.

use serde_json::Value;
use std::collections::BTreeMap;

/// Milliseconds per profile step (plus `total`) over one pass of requests.
#[derive(Debug, Default)]
pub struct StepSamples {
    by_step: BTreeMap<String, Vec<f64>>,
    requests: usize,
}

impl StepSamples {
    /// Adds one response's `profile` (`{"steps":[{"name","ms"}],"total_ms"}`).
    pub fn add_profile(&mut self, profile: &Value) -> Result<(), String> {
        let total = profile["total_ms"]
            .as_f64()
            .ok_or_else(|| format!("profile without total_ms: {profile}"))?;
        self.push("total", total);
        let steps = profile["steps"]
            .as_array()
            .ok_or_else(|| format!("profile without steps: {profile}"))?;
        for step in steps {
            let name = step["name"]
                .as_str()
                .ok_or_else(|| format!("step without name: {step}"))?;
            let ms = step["ms"]
                .as_f64()
                .ok_or_else(|| format!("step without ms: {step}"))?;
            self.push(name, ms);
        }
        self.requests += 1;
        Ok(())
    }

    pub fn push(&mut self, name: &str, value: f64) {
        self.by_step
            .entry(name.to_string())
            .or_default()
            .push(value);
    }

    pub fn requests(&self) -> usize {
        self.requests
    }

    /// (n, p50, p95, max) of one step; None when no response had it.
    pub fn summary(&self, step: &str) -> Option<(usize, f64, f64, f64)> {
        let values = self.by_step.get(step)?;
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        Some((
            values.len(),
            percentile(values, 50.0)?,
            percentile(values, 95.0)?,
            max,
        ))
    }

    /// Markdown table rows `| pass | step | n | p50 | p95 | max |` for `steps`, in that order.
    pub fn table_rows(&self, pass: &str, steps: &[&str]) -> Vec<String> {
        steps
            .iter()
            .map(|step| match self.summary(step) {
                Some((n, p50, p95, max)) => {
                    format!("| {pass} | `{step}` | {n} | {p50:.1} | {p95:.1} | {max:.1} |")
                }
                None => format!("| {pass} | `{step}` | 0 | — | — | — |"),
            })
            .collect()
    }
}

/// Nearest-rank percentile: the smallest sample with at least `p` % of samples at or below it
/// (so p95 of 20 samples is the 19th smallest, never an interpolated value nobody measured).
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What the generation service reported for the answers of one query pass.
#[derive(Debug, Default)]
pub struct GenerationSamples {
    pub prompt_tokens: Vec<f64>,
    pub generated_tokens: Vec<f64>,
    /// Tokens after the first one per second of decoding (generate − generate.first_token).
    pub decode_tokens_per_s: Vec<f64>,
    /// Answers that ended on the model's stop token (the rest hit max_new_tokens).
    pub stopped: usize,
    pub answers: usize,
}

impl GenerationSamples {
    /// Adds one `/api/query` response (`generation` block and profile steps).
    pub fn add_answer(&mut self, response: &Value) {
        let generation = &response["generation"];
        if generation.is_null() {
            return;
        }
        self.answers += 1;
        let prompt = generation["prompt_tokens"].as_f64().unwrap_or(0.0);
        let generated = generation["generated_tokens"].as_f64().unwrap_or(0.0);
        self.prompt_tokens.push(prompt);
        self.generated_tokens.push(generated);
        if generation["finish_reason"] == "stop" {
            self.stopped += 1;
        }
        let step_ms = |name: &str| {
            response["profile"]["steps"]
                .as_array()
                .and_then(|steps| steps.iter().find(|s| s["name"] == name))
                .and_then(|s| s["ms"].as_f64())
        };
        if let (Some(first), Some(all)) = (step_ms("generate.first_token"), step_ms("generate"))
            && generated > 1.0
            && all > first
        {
            self.decode_tokens_per_s
                .push((generated - 1.0) / ((all - first) / 1e3));
        }
    }

    /// One Markdown row `| pass | prompt tokens p50 | generated p50 | decode tok/s p50 | stop |`.
    pub fn table_row(&self, pass: &str) -> String {
        let p50 = |v: &[f64]| percentile(v, 50.0).map_or("—".to_string(), |x| format!("{x:.0}"));
        format!(
            "| {pass} | {} | {} | {} | {}/{} |",
            p50(&self.prompt_tokens),
            p50(&self.generated_tokens),
            p50(&self.decode_tokens_per_s),
            self.stopped,
            self.answers
        )
    }
}

/// The machine a run happened on, read when the run starts.
#[derive(Debug)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub date: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        Machine {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            cpu,
            date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        }
    }

    /// The line under a result table that says how and where it was measured:
    /// `Command: ... · date · cores (CPU) · revision · load before / after · {details}`.
    pub fn run_line(&self, bench: &str, load_before: &str, details: &str) -> String {
        format!(
            "Command: `cargo bench --bench {bench}` · {} · {} cores ({}) · revision {} · load before {load_before} / after {} · {details}\n",
            self.date,
            self.cores,
            self.cpu,
            source_revision(),
            load_average()
        )
    }
}

/// The 1, 5 and 15 minute load averages as `uptime` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `git describe --always --dirty` of the tree being measured.
pub fn source_revision() -> String {
    command_output(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ],
    )
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A positive count from the environment (e.g. `RAGMESH_BENCH_ROUNDS`), or `default` when unset.
pub fn env_count(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, got {text:?}")),
        },
    }
}
