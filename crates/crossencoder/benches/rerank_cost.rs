//! What reranking costs per query on this machine: pairs/s and milliseconds per query for 10
//! and 50 passages of ~200 word pieces, with a randomly initialised checkpoint of the full
//! ms-marco-MiniLM-L-6-v2 shape (hidden 384, 6 layers, 12 heads, intermediate 1536). Weight
//! values do not change the cost, so random ones stand in for the real model.
//!
//! `cargo bench -p ragmesh-crossencoder --bench rerank_cost` writes the checkpoint into a
//! temporary directory (tokenizer from the default all-MiniLM-L6-v2, same vocabulary); set
//! `RAGMESH_BENCH_CROSS_ENCODER_DIR` to use another one (e.g. from make_checkpoint.py --full).
//! `RAGMESH_BENCH_THREADS` sizes the rayon pool (default: all cores).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use candle_core::{DType, Device, Tensor};
use ragmesh_crossencoder::CrossEncoder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

const HIDDEN: usize = 384;
const LAYERS: usize = 6;
const HEADS: usize = 12;
const INTERMEDIATE: usize = 1536;
const VOCAB: usize = 30522;
const POSITIONS: usize = 512;

fn random(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 0.05, shape, &Device::Cpu).unwrap()
}

fn layer_norm(tensors: &mut HashMap<String, Tensor>, prefix: &str) {
    tensors.insert(
        format!("{prefix}.weight"),
        Tensor::ones(HIDDEN, DType::F32, &Device::Cpu).unwrap(),
    );
    tensors.insert(
        format!("{prefix}.bias"),
        Tensor::zeros(HIDDEN, DType::F32, &Device::Cpu).unwrap(),
    );
}

fn dense(tensors: &mut HashMap<String, Tensor>, prefix: &str, input: usize, output: usize) {
    tensors.insert(format!("{prefix}.weight"), random(&[output, input]));
    tensors.insert(format!("{prefix}.bias"), random(&[output]));
}

/// Writes a BertForSequenceClassification checkpoint (HF names) of the full shape into `dir`.
fn write_full_shape_checkpoint(dir: &Path) {
    let mut t = HashMap::new();
    t.insert(
        "bert.embeddings.word_embeddings.weight".into(),
        random(&[VOCAB, HIDDEN]),
    );
    t.insert(
        "bert.embeddings.position_embeddings.weight".into(),
        random(&[POSITIONS, HIDDEN]),
    );
    t.insert(
        "bert.embeddings.token_type_embeddings.weight".into(),
        random(&[2, HIDDEN]),
    );
    layer_norm(&mut t, "bert.embeddings.LayerNorm");
    for l in 0..LAYERS {
        let p = format!("bert.encoder.layer.{l}");
        for part in ["query", "key", "value"] {
            dense(
                &mut t,
                &format!("{p}.attention.self.{part}"),
                HIDDEN,
                HIDDEN,
            );
        }
        dense(
            &mut t,
            &format!("{p}.attention.output.dense"),
            HIDDEN,
            HIDDEN,
        );
        layer_norm(&mut t, &format!("{p}.attention.output.LayerNorm"));
        dense(
            &mut t,
            &format!("{p}.intermediate.dense"),
            HIDDEN,
            INTERMEDIATE,
        );
        dense(&mut t, &format!("{p}.output.dense"), INTERMEDIATE, HIDDEN);
        layer_norm(&mut t, &format!("{p}.output.LayerNorm"));
    }
    dense(&mut t, "bert.pooler.dense", HIDDEN, HIDDEN);
    dense(&mut t, "classifier", HIDDEN, 1);
    candle_core::safetensors::save(&t, dir.join("model.safetensors")).unwrap();
    let config = serde_json::json!({
        "architectures": ["BertForSequenceClassification"], "model_type": "bert",
        "vocab_size": VOCAB, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "intermediate_size": INTERMEDIATE, "hidden_act": "gelu",
        "max_position_embeddings": POSITIONS, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
        "pad_token_id": 0, "id2label": {"0": "LABEL_0"}
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let minilm = ragmesh_testkit::models_dir().join("all-MiniLM-L6-v2/tokenizer.json");
    std::fs::copy(minilm, dir.join("tokenizer.json")).unwrap();
}

/// `count` distinct passages of roughly 200 word pieces each.
fn passages(count: usize) -> Vec<String> {
    let words = [
        "river",
        "barge",
        "harbour",
        "container",
        "lock",
        "canal",
        "freight",
        "tonnage",
        "vessel",
        "current",
        "upstream",
        "delta",
        "bridge",
        "tide",
        "crane",
        "quay",
        "pilot",
        "channel",
    ];
    (0..count)
        .map(|p| {
            let mut text = format!("Passage {p}:");
            for w in 0..170 {
                text.push(' ');
                text.push_str(words[(p * 7 + w * 5 + w / 3) % words.len()]);
                if w % 12 == 11 {
                    text.push('.');
                }
            }
            text
        })
        .collect()
}

/// CPU seconds this process has used (user + system), from /proc/self/stat on Linux: unlike
/// wall time it barely moves when other processes share the cores.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let scratch = tempfile::tempdir().unwrap();
    let dir: PathBuf = match std::env::var_os("RAGMESH_BENCH_CROSS_ENCODER_DIR") {
        Some(dir) => dir.into(),
        None => {
            write_full_shape_checkpoint(scratch.path());
            scratch.path().to_path_buf()
        }
    };
    let threads: usize = std::env::var("RAGMESH_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let started = Instant::now();
    let encoder = CrossEncoder::load(&dir, 512).unwrap();
    println!(
        "checkpoint {} loaded in {:.2} s; pool of {} threads",
        dir.display(),
        started.elapsed().as_secs_f64(),
        pool.current_num_threads()
    );

    let query = "how do barges pass the locks on a busy river";
    let all = passages(50);
    // Count whole passages: the shipped tokenizer.json pads and truncates to 128.
    let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).unwrap();
    let pieces: Vec<usize> = all
        .iter()
        .map(|p| tokenizer.encode(p.as_str(), false).unwrap().len())
        .collect();
    println!(
        "passages: {}..{} word pieces each (plus {} for the query and 3 special tokens)",
        pieces.iter().min().unwrap(),
        pieces.iter().max().unwrap(),
        tokenizer.encode(query, false).unwrap().len()
    );
    println!(
        "{:>9} {:>6} {:>5} {:>10} {:>8} {:>14}",
        "passages", "batch", "runs", "ms/query", "pairs/s", "cpu ms/query"
    );
    for (count, runs) in [(10usize, 7usize), (50, 3)] {
        let refs: Vec<&str> = all[..count].iter().map(String::as_str).collect();
        for batch_size in [8usize, 16, 32] {
            let encoder = CrossEncoder::load(&dir, 512)
                .unwrap()
                .with_batch_size(batch_size);
            pool.install(|| encoder.score(query, &refs).unwrap()); // warm-up
            let cpu_before = cpu_seconds();
            let times: Vec<f64> = (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    let scores = pool.install(|| encoder.score(query, &refs).unwrap());
                    assert_eq!(scores.len(), count);
                    t.elapsed().as_secs_f64()
                })
                .collect();
            let cpu_per_query = match (cpu_before, cpu_seconds()) {
                (Some(a), Some(b)) => format!("{:.0}", (b - a) / runs as f64 * 1e3),
                _ => "-".into(),
            };
            let per_query = median(times);
            println!(
                "{count:>9} {batch_size:>6} {runs:>5} {:>10.1} {:>8.1} {cpu_per_query:>14}",
                per_query * 1e3,
                count as f64 / per_query
            );
        }
    }
    drop(encoder);
}
