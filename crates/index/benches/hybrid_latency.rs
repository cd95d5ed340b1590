//! Hybrid retrieval benchmark: how long a search takes once the query is embedded, how good
//! the HNSW graph is compared with exact search, and what building and reopening an index
//! costs, at 10k and 100k chunks.
//!
//! Data is synthetic and deterministic: 384-d unit vectors drawn around a hierarchy of topic
//! and subtopic centroids (real embeddings cluster the same way; uniform random vectors
//! would be an unrealistically hard case for any graph index), and chunk texts of ~60 words
//! drawn from topic vocabularies plus a Zipf-like common vocabulary. Queries are 4 words of
//! a chunk plus that chunk's vector with noise.
//!
//! Run: `cargo bench -p ragmesh-index --bench hybrid_latency [-- 10000 100000]`.
#![allow(clippy::print_stdout)]

use ragmesh_index::{
    ChunkId, Collections, DocumentInput, Filters, FusionMethod, IndexError, Method, SearchRequest,
    normalized,
};
use std::collections::HashSet;
use std::time::Instant;

const DIM: usize = 384;
const CHUNKS_PER_DOC: usize = 10;
const DOCS_PER_UPSERT: usize = 100;
const TOPICS: usize = 100;
const SUBTOPICS_PER_TOPIC: usize = 10;
const QUERIES: usize = 300;
const K: usize = 10;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    println!(
        "# hybrid_latency: {} cores, k={K}, {QUERIES} queries, dim={DIM}",
        rayon::current_num_threads()
    );
    for n in sizes {
        run(n)?;
    }
    Ok(())
}

fn run(n: usize) -> BenchResult<()> {
    let corpus = Corpus::new(n, 42);
    let dir = tempfile::tempdir()?;
    let collections = Collections::new(dir.path())?;
    let collection = collections.get_or_create("bench")?;

    let started = Instant::now();
    for (batch_no, batch) in corpus.documents().chunks(DOCS_PER_UPSERT).enumerate() {
        let first_chunk = batch_no * DOCS_PER_UPSERT * CHUNKS_PER_DOC;
        let vectors = &corpus.vectors[first_chunk..first_chunk + batch.len() * CHUNKS_PER_DOC];
        collection.upsert(batch.to_vec(), |texts: &[&str]| {
            assert_eq!(texts.len(), vectors.len());
            Ok::<_, IndexError>(vectors.to_vec())
        })?;
    }
    let insert_s = started.elapsed().as_secs_f64();
    drop(collection);
    drop(collections);

    let started = Instant::now();
    let collections = Collections::new(dir.path())?;
    let collection = collections.get("bench")?;
    let reopen_s = started.elapsed().as_secs_f64();
    let info = collection.info();
    assert_eq!(info.chunks, n);

    let filters = Filters::new();
    let mut rng = SplitMix(7);
    let mut hybrid = Vec::new();
    let mut bm25_legs = Vec::new();
    let mut vector_legs = Vec::new();
    let mut fusion = Vec::new();
    let mut found = 0usize;
    let mut found_cluster = 0usize;
    let mut hits_at_1 = 0usize;
    for _ in 0..QUERIES {
        let target = rng.below(n);
        let text = corpus.query_text(target, &mut rng);
        let vector = corpus.query_vector(target, &mut rng);
        let request = SearchRequest {
            text: &text,
            vector: Some(&vector),
            k: K,
            method: Method::Hybrid,
            fusion: FusionMethod::default(),
            rrf_k: 60,
            leg_depth_factor: 4,
            filters: &filters,
        };
        let started = Instant::now();
        let results = collection.search(&request)?;
        hybrid.push(started.elapsed().as_secs_f64() * 1e3);
        bm25_legs.push(results.timings.bm25_ms.unwrap_or_default());
        vector_legs.push(results.timings.vector_ms.unwrap_or_default());
        fusion.push(results.timings.fusion_ms);
        if results.hits.first().map(|h| h.id) == Some(corpus.ids[target]) {
            hits_at_1 += 1;
        }

        found += overlap_with_exact(&collection, &vector)?;
        // A query from the data's own distribution (no item very close to it): harder.
        let cluster_query = corpus.cluster_query(&mut rng);
        found_cluster += overlap_with_exact(&collection, &cluster_query)?;
    }
    let recall = found as f64 / (QUERIES * K) as f64;
    let recall_cluster = found_cluster as f64 / (QUERIES * K) as f64;
    println!(
        "chunks={n:>7}  insert={insert_s:>7.2}s ({:>6.0} chunks/s)  reopen={reopen_s:>6.2}s  \
         hybrid p50={:.2}ms p95={:.2}ms  [bm25 p50={:.2} vector p50={:.2} fusion p50={:.2}]  \
         hnsw recall@10={recall:.4} (in-distribution queries {recall_cluster:.4})  target@1={:.2}",
        n as f64 / insert_s,
        percentile(&mut hybrid, 50.0),
        percentile(&mut hybrid, 95.0),
        percentile(&mut bm25_legs, 50.0),
        percentile(&mut vector_legs, 50.0),
        percentile(&mut fusion, 50.0),
        hits_at_1 as f64 / QUERIES as f64,
    );
    Ok(())
}

/// How many of the exact top-k the graph search returns.
fn overlap_with_exact(collection: &ragmesh_index::Collection, query: &[f32]) -> BenchResult<usize> {
    let graph: HashSet<ChunkId> = collection
        .vector(query, K, &Filters::new())?
        .iter()
        .map(|h| h.id)
        .collect();
    let exact = collection.vector_exact(query, K)?;
    Ok(exact.iter().filter(|h| graph.contains(&h.id)).count())
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank]
}

/// Synthetic chunks: texts, vectors and ids.
struct Corpus {
    subtopics: Vec<Vec<f32>>,
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
    ids: Vec<ChunkId>,
}

impl Corpus {
    fn new(n: usize, seed: u64) -> Corpus {
        let mut rng = SplitMix(seed);
        let vocabulary: Vec<String> = (0..20_000).map(|i| word(i, &mut rng)).collect();
        let topics: Vec<Vec<f32>> = (0..TOPICS).map(|_| rng.unit_vector()).collect();
        let subtopics: Vec<Vec<f32>> = (0..TOPICS * SUBTOPICS_PER_TOPIC)
            .map(|s| rng.around(&topics[s / SUBTOPICS_PER_TOPIC], 0.6))
            .collect();
        let mut texts = Vec::with_capacity(n);
        let mut vectors = Vec::with_capacity(n);
        for _ in 0..n {
            let sub = rng.below(subtopics.len());
            let topic = sub / SUBTOPICS_PER_TOPIC;
            vectors.push(rng.around(&subtopics[sub], 0.5));
            let words: Vec<&str> = (0..60)
                .map(|_| {
                    let index = if rng.unit() < 0.4 {
                        // Topic words: each topic owns 150 words of the vocabulary.
                        topic * 150 + rng.below(150)
                    } else {
                        // Common words, Zipf-like.
                        (vocabulary.len() as f64 * rng.unit().powi(3)) as usize
                    };
                    vocabulary[index.min(vocabulary.len() - 1)].as_str()
                })
                .collect();
            texts.push(words.join(" "));
        }
        let mut corpus = Corpus {
            subtopics,
            texts,
            vectors,
            ids: Vec::new(),
        };
        corpus.ids = corpus
            .documents()
            .iter()
            .flat_map(|d| {
                let texts: Vec<&str> = d.chunks.iter().map(String::as_str).collect();
                ChunkId::for_document("bench", &d.source, &texts)
            })
            .collect();
        corpus
    }

    fn documents(&self) -> Vec<DocumentInput> {
        self.texts
            .chunks(CHUNKS_PER_DOC)
            .enumerate()
            .map(|(i, chunks)| DocumentInput {
                source: format!("doc-{i:06}.txt"),
                metadata: [(
                    "lang".to_string(),
                    if i % 2 == 0 { "en" } else { "de" }.to_string(),
                )]
                .into(),
                chunks: chunks.to_vec(),
            })
            .collect()
    }

    fn query_text(&self, target: usize, rng: &mut SplitMix) -> String {
        let words: Vec<&str> = self.texts[target].split(' ').collect();
        (0..4)
            .map(|_| words[rng.below(words.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn cluster_query(&self, rng: &mut SplitMix) -> Vec<f32> {
        let sub = rng.below(self.subtopics.len());
        rng.around(&self.subtopics[sub], 0.5)
    }

    fn query_vector(&self, target: usize, rng: &mut SplitMix) -> Vec<f32> {
        rng.around(&self.vectors[target], 0.4)
    }
}

/// A pronounceable synthetic word.
fn word(i: usize, rng: &mut SplitMix) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "da", "gu", "ho", "ze", "bi", "fa",
        "wu",
    ];
    let mut w: String = (0..2 + rng.below(3))
        .map(|_| SYLLABLES[rng.below(16)])
        .collect();
    w.push_str(&format!("{}", i % 97));
    w
}

/// splitmix64: a small deterministic generator, enough for synthetic data.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// Standard normal (Box-Muller).
    fn gaussian(&mut self) -> f32 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }

    fn unit_vector(&mut self) -> Vec<f32> {
        let v: Vec<f32> = (0..DIM).map(|_| self.gaussian()).collect();
        normalized(&v).unwrap_or(v)
    }

    /// `center + noise * g`, normalised, with `g` a random vector of expected length 1.
    fn around(&mut self, center: &[f32], noise: f32) -> Vec<f32> {
        let scale = noise / (DIM as f32).sqrt();
        let v: Vec<f32> = center.iter().map(|c| c + scale * self.gaussian()).collect();
        normalized(&v).unwrap_or(v)
    }
}
