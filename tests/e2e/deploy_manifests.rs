//! docker-compose.yml and k8s/ configure ragmesh only through `RAGMESH__SECTION__KEY`
//! variables. A setting renamed in code would leave those files silently wrong (the old
//! Python service shipped manifests for settings it no longer read), so every variable they
//! set goes through the real configuration loader here — unknown keys and unparsable values
//! fail — and every file they mount from this repository must exist.

use crate::support::repo;
use ragmesh_config::Settings;
use std::path::PathBuf;

/// Every `RAGMESH__*` variable a manifest sets, with its value (`valueFrom` ones get a
/// placeholder: the pod name). A Kubernetes `- name:` line takes its `value:` from the next line.
fn ragmesh_variables(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("RAGMESH__") else {
            continue;
        };
        if line.trim_start().starts_with('#') {
            continue;
        }
        let rest = &line[at..];
        let key: String = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let after = &rest[key.len()..];
        let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
        let value = match after.find("value:") {
            Some(v) => &after[v + "value:".len()..],
            None if after.trim().is_empty() && next.starts_with("value:") => {
                &next["value:".len()..]
            }
            None => after.trim_start_matches([',', ' ']).trim_start_matches(':'),
        };
        let value = value
            .trim()
            .trim_end_matches('}')
            .trim()
            .trim_matches('"')
            .to_string();
        let value = if value.is_empty() {
            "pod-0".into()
        } else {
            value
        };
        out.push((key, value));
    }
    out
}

fn manifests() -> Vec<PathBuf> {
    let mut files = vec![repo().join("docker-compose.yml")];
    let mut k8s: Vec<PathBuf> = std::fs::read_dir(repo().join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    k8s.sort();
    files.extend(k8s);
    files
}

#[test]
fn every_setting_the_manifests_set_is_one_ragmesh_reads() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in manifests() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (key, value) in ragmesh_variables(&text) {
            checked += 1;
            let env = [(key.clone(), value.clone())];
            if let Err(e) = Settings::load_with_env(None, env) {
                problems.push(format!("{}: {key}={value}: {e}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The compose file and the Kubernetes manifests between them set a few dozen; finding
    // almost none would mean the scanner above stopped seeing them.
    assert!(checked >= 30, "only {checked} RAGMESH__ settings found");
}

#[test]
fn the_scanner_reads_each_manifest_style() {
    let vars = ragmesh_variables(
        "      RAGMESH__LB__LISTEN: 0.0.0.0:8080\n\
         - { name: RAGMESH__RETRIEVAL__LISTEN, value: \"0.0.0.0:50051\" }\n\
         - name: RAGMESH__GATEWAY__RETRIEVAL_URL\n\
           value: http://a:1,http://b:1\n\
         - name: RAGMESH__TELEMETRY__INSTANCE\n\
         # RAGMESH__NOT__THIS: 1\n",
    );
    assert_eq!(
        vars,
        [
            (
                "RAGMESH__LB__LISTEN".to_string(),
                "0.0.0.0:8080".to_string()
            ),
            ("RAGMESH__RETRIEVAL__LISTEN".into(), "0.0.0.0:50051".into()),
            (
                "RAGMESH__GATEWAY__RETRIEVAL_URL".into(),
                "http://a:1,http://b:1".into()
            ),
            ("RAGMESH__TELEMETRY__INSTANCE".into(), "pod-0".into()),
        ]
    );
}

#[test]
fn every_repository_file_the_compose_file_mounts_exists() {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let mut mounts = 0;
    for line in text.lines() {
        let line = line.trim().trim_start_matches("- ");
        if let Some(path) = line.strip_prefix("./") {
            let source = path.split(':').next().unwrap();
            assert!(
                repo().join(source).exists(),
                "docker-compose.yml mounts ./{source}, which does not exist"
            );
            mounts += 1;
        }
    }
    assert!(mounts >= 5, "only {mounts} mounts found");
}
