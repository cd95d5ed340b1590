//! One real fetch of both default wheels from the configured index (PyPI by default, honouring
//! HTTPS_PROXY and SSL_CERT_FILE like the CLI does), into a temporary directory.

#![allow(clippy::unwrap_used)]

use ragmesh_models::{
    DEFAULT_PACKAGES, EMBEDDING_PACKAGE, FetchOutcome, GENERATION_PACKAGE, check_model,
    embedding_model_dir, fetch_models, generation_gguf_path, missing_models,
};

/// `RAGMESH__MODELS__INDEX_URL` lets CI point at a mirror, as the CLI does.
fn index_url() -> String {
    std::env::var("RAGMESH__MODELS__INDEX_URL").unwrap_or_else(|_| "https://pypi.org/simple".into())
}

#[tokio::test]
async fn fetches_both_default_models_from_the_package_index() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(missing_models(dir.path()).len(), 2);

    let report = fetch_models(dir.path(), &index_url(), false).await.unwrap();
    assert_eq!(report.downloaded(), 2, "{report}");
    for model in &report.models {
        let FetchOutcome::Downloaded { sha256, .. } = &model.outcome else {
            panic!("{report}")
        };
        let marker = check_model(dir.path(), model.package).unwrap();
        assert_eq!(&marker.wheel_sha256, sha256);
    }
    assert!(missing_models(dir.path()).is_empty());

    // The files the other crates load.
    let embed = embedding_model_dir(dir.path());
    for file in EMBEDDING_PACKAGE.files {
        assert!(embed.join(file).is_file(), "{file}");
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(embed.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["hidden_size"], 384);
    let gguf = std::fs::read(generation_gguf_path(dir.path())).unwrap();
    assert_eq!(&gguf[..4], b"GGUF");
    assert_eq!(
        gguf.len() as u64,
        check_model(dir.path(), &GENERATION_PACKAGE).unwrap().files[GENERATION_PACKAGE.files[0]]
            .size
    );

    // Idempotent: nothing is downloaded again.
    let again = fetch_models(dir.path(), &index_url(), false).await.unwrap();
    assert_eq!(again.downloaded(), 0, "{again}");
    assert_eq!(again.models.len(), DEFAULT_PACKAGES.len());

    // A byte flipped in the embedding weights makes exactly that model missing.
    let weights = embed.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&weights, &bytes).unwrap();
    assert_eq!(missing_models(dir.path()), vec![&EMBEDDING_PACKAGE]);
}
