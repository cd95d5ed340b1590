//! Shared helpers of the collection tests: a deterministic bag-of-words "embedding" (hashed
//! word counts, L2-normalised) so the vector leg behaves like a real one on small synthetic
//! data without a model, and shorthands for documents and searches.
#![allow(dead_code, clippy::unwrap_used)]

use ragmesh_index::{
    Collection, DocumentInput, Filters, FusionMethod, IndexError, Metadata, Method, SearchHit,
    SearchRequest,
};

pub const DIM: usize = 256;

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "the", "of", "in", "on", "to", "is", "are", "how", "does", "do", "what",
    "why", "when", "from", "with", "their", "has", "have", "until", "through", "down", "near",
    "because", "it", "its", "about",
];

/// Hashed counts of content words (lowercased, stop words dropped, a plural `s` cut):
/// texts sharing words get similar vectors.
pub fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIM];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        if STOP_WORDS.contains(&word.as_str()) {
            continue;
        }
        let word = if word.len() > 3 {
            word.strip_suffix('s').unwrap_or(&word)
        } else {
            &word
        };
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in word.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        v[(h % DIM as u64) as usize] += 1.0;
    }
    if v.iter().all(|x| *x == 0.0) {
        v[0] = 1.0;
    }
    v
}

pub fn embed_all(texts: &[&str]) -> Result<Vec<Vec<f32>>, IndexError> {
    Ok(texts.iter().map(|t| embed(t)).collect())
}

pub fn doc(source: &str, chunks: &[&str]) -> DocumentInput {
    DocumentInput {
        source: source.into(),
        metadata: Metadata::new(),
        chunks: chunks.iter().map(|c| c.to_string()).collect(),
    }
}

pub fn doc_with(source: &str, metadata: &[(&str, &str)], chunks: &[&str]) -> DocumentInput {
    DocumentInput {
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..doc(source, chunks)
    }
}

pub fn search(
    collection: &Collection,
    method: Method,
    query: &str,
    k: usize,
    filters: &Filters,
) -> Vec<SearchHit> {
    let vector = embed(query);
    let request = SearchRequest {
        text: query,
        vector: Some(&vector),
        k,
        method,
        fusion: FusionMethod::default(),
        rrf_k: 60,
        leg_depth_factor: 4,
        filters,
    };
    collection.search(&request).unwrap().hits
}

pub fn sources(hits: &[SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.source.as_str()).collect()
}

/// Three documents about distinct topics, two chunks each.
pub fn corpus() -> Vec<DocumentInput> {
    vec![
        doc_with(
            "volcano.md",
            &[("lang", "en"), ("topic.area", "geology")],
            &[
                "Volcanoes erupt when magma rises through the crust and lava flows down the slopes.",
                "Basalt forms when lava cools quickly near volcanic vents.",
            ],
        ),
        doc_with(
            "bread.md",
            &[("lang", "en"), ("topic.area", "cooking")],
            &[
                "Sourdough bread rises slowly because wild yeast ferments the dough overnight.",
                "Bake the bread in a hot oven until the crust is dark and crisp.",
            ],
        ),
        doc_with(
            "orbits.md",
            &[("lang", "de"), ("topic.area", "physics")],
            &[
                "Satellites stay in orbit because gravity bends their path around the planet.",
                "A higher orbit has a longer period and a slower orbital speed.",
            ],
        ),
    ]
}
