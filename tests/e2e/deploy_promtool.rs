//! The deploy/ artefacts are tested, not just written: the real `promtool` (Debian's
//! `prometheus` package; `.ci/run` installs it) checks both Prometheus configurations and the
//! alert rules, runs the alert unit tests, and parses every PromQL expression of every Grafana
//! dashboard; the real `amtool` (package `prometheus-alertmanager`) checks the Alertmanager
//! configuration. A missing tool fails the test: it is never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    crate::support::repo().join("deploy")
}

/// Runs a tool and returns its combined output; panics with that output when it fails.
fn run_ok(tool: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} is required (Debian: apt-get install prometheus prometheus-alertmanager): {e}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn prometheus_static_config_is_valid() {
    let out = run_ok(
        "promtool",
        &["check", "config", "prometheus/prometheus.yml"],
        &deploy(),
    );
    assert!(out.contains("SUCCESS: 1 rule files found"), "{out}");
}

/// Debian builds Prometheus without Kubernetes service discovery, so its promtool rejects
/// `kubernetes_sd_configs` as an unknown field. Everything else in the Kubernetes variant
/// (relabelling, alerting, rules) is checked by promtool with each discovery block swapped for
/// an equivalent static one; the swap must find both blocks.
#[test]
fn prometheus_kubernetes_config_is_valid_apart_from_discovery() {
    let text =
        std::fs::read_to_string(deploy().join("prometheus/prometheus-kubernetes.yml")).unwrap();
    let blocks = [
        (
            "    - kubernetes_sd_configs:\n        - role: pod\n",
            "    - static_configs:\n        - targets: [\"alertmanager:9093\"]\n",
        ),
        (
            "    kubernetes_sd_configs:\n      - role: pod\n",
            "    static_configs:\n      - targets: [\"pod:9101\"]\n",
        ),
    ];
    let mut swapped = text.clone();
    for (discovery, fixed) in blocks {
        assert_eq!(swapped.matches(discovery).count(), 1, "{discovery:?}");
        swapped = swapped.replace(discovery, fixed);
    }
    assert!(!swapped.contains("kubernetes_sd_configs"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::copy(
        deploy().join("prometheus/rules/ragmesh-alerts.yml"),
        dir.path().join("rules/ragmesh-alerts.yml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), swapped).unwrap();
    run_ok(
        "promtool",
        &["check", "config", "prometheus.yml"],
        dir.path(),
    );
}

#[test]
fn every_alert_is_valid_and_has_a_passing_unit_test_that_fires_it() {
    let rules_path = deploy().join("prometheus/rules/ragmesh-alerts.yml");
    let rules = std::fs::read_to_string(&rules_path).unwrap();
    let names = alert_names(&rules);
    assert!(names.len() >= 10, "{names:?}");
    let out = run_ok(
        "promtool",
        &["check", "rules", "prometheus/rules/ragmesh-alerts.yml"],
        &deploy(),
    );
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", names.len())),
        "{out}"
    );

    // Each alert must be expected to fire (a non-empty exp_alerts) in some test case.
    let tests =
        std::fs::read_to_string(deploy().join("prometheus/tests/ragmesh-alerts.test.yml")).unwrap();
    for name in &names {
        let fires = tests
            .split("alertname: ")
            .skip(1)
            .any(|case| case.starts_with(&format!("{name}\n")) && case.contains("exp_labels"));
        assert!(fires, "alert {name} has no unit test in which it fires");
    }
    let out = run_ok(
        "promtool",
        &["test", "rules", "ragmesh-alerts.test.yml"],
        &deploy().join("prometheus/tests"),
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_dashboard_panel_query_is_valid_promql() {
    let dir = deploy().join("grafana/dashboards");
    let mut rules = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    let mut count = 0;
    let mut titles = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(json["uid"].is_string(), "{} has no uid", path.display());
        titles.push(json["title"].as_str().unwrap().to_string());
        for panel in json["panels"].as_array().unwrap() {
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
            for target in targets {
                let expr = target["expr"].as_str().unwrap();
                // A recording rule per query: promtool parses each with Prometheus' own parser.
                rules.push_str(&format!(
                    "      - record: dashboard:query:{count}\n        expr: {}\n",
                    serde_json::to_string(expr).unwrap()
                ));
                count += 1;
            }
        }
    }
    titles.sort();
    assert_eq!(
        titles,
        [
            "ragmesh / Cache",
            "ragmesh / Load balancer",
            "ragmesh / Models",
            "ragmesh / Overview",
            "ragmesh / Services"
        ]
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("queries.yml"), rules).unwrap();
    let out = run_ok("promtool", &["check", "rules", "queries.yml"], tmp.path());
    assert!(
        out.contains(&format!("SUCCESS: {count} rules found")),
        "{out}"
    );
}

#[test]
fn alertmanager_config_is_valid_and_routes_by_severity() {
    let out = run_ok(
        "amtool",
        &["check-config", "alertmanager/alertmanager.yml"],
        &deploy(),
    );
    assert!(out.contains("SUCCESS"), "{out}");
    let config = std::fs::read_to_string(deploy().join("alertmanager/alertmanager.yml")).unwrap();
    for severity in ["critical", "warning"] {
        assert!(
            config.contains(&format!("matchers: ['severity=\"{severity}\"']")),
            "no route for {severity}"
        );
    }
}
