//! A flat vector index for one namespace: unit vectors in one contiguous `f32` matrix (row per
//! slot), plus a map from exact key to slot. Removed slots are zeroed and reused. Brute force is
//! the right tool here: a namespace holds at most `max_entries` vectors (1,000 by default).
//!
//! A scan reads an 8-bit copy of the matrix first (a quarter of the memory traffic, integer
//! dot products the compiler vectorises) and computes the exact `f32` cosine only for rows
//! whose 8-bit score is within a proven error bound of the threshold, so the result is exactly
//! what a full `f32` scan would return (docs/cache.md has the numbers).

use std::collections::HashMap;

#[derive(Debug)]
pub struct VectorIndex<T> {
    dim: usize,
    matrix: Vec<f32>,
    /// `matrix` quantized row by row: `row[i] ≈ codes[i] * scale`.
    codes: Vec<i16>,
    /// Per row: the quantization step (`scale`) and the L1 norm of the dequantized row.
    rows: Vec<RowCode>,
    slots: Vec<Option<(String, T)>>,
    free: Vec<usize>,
    by_key: HashMap<String, usize>,
}

impl<T> Default for VectorIndex<T> {
    fn default() -> Self {
        VectorIndex {
            dim: 0,
            matrix: Vec::new(),
            codes: Vec::new(),
            rows: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<T> VectorIndex<T> {
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Stores `item` under `key` with `vector` (an empty vector, or one of another dimension
    /// than the index's, is stored as a zero row: findable by key, never by similarity).
    /// Returns the item it replaced.
    pub fn insert(&mut self, key: String, vector: &[f32], item: T) -> Option<T> {
        if self.dim == 0 && !vector.is_empty() {
            self.dim = vector.len();
            self.matrix = vec![0.0; self.dim * self.slots.len()];
            self.codes = vec![0; self.dim * self.slots.len()];
        }
        let replaced = self.remove(&key);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.matrix.resize(self.matrix.len() + self.dim, 0.0);
                self.codes.resize(self.codes.len() + self.dim, 0);
                self.rows.push(RowCode::default());
                self.slots.len() - 1
            }
        };
        if self.dim > 0 {
            let row = &mut self.matrix[slot * self.dim..(slot + 1) * self.dim];
            if vector.len() == self.dim {
                row.copy_from_slice(vector);
            } else {
                row.fill(0.0);
            }
            let codes = &mut self.codes[slot * self.dim..(slot + 1) * self.dim];
            self.rows[slot] = RowCode::quantize(row, codes);
        }
        self.by_key.insert(key.clone(), slot);
        self.slots[slot] = Some((key, item));
        replaced
    }

    pub fn remove(&mut self, key: &str) -> Option<T> {
        let slot = self.by_key.remove(key)?;
        if self.dim > 0 {
            self.matrix[slot * self.dim..(slot + 1) * self.dim].fill(0.0);
            self.codes[slot * self.dim..(slot + 1) * self.dim].fill(0);
            self.rows[slot] = RowCode::default();
        }
        self.free.push(slot);
        self.slots[slot].take().map(|(_, item)| item)
    }

    pub fn get(&self, key: &str) -> Option<&T> {
        let slot = *self.by_key.get(key)?;
        self.slots[slot].as_ref().map(|(_, item)| item)
    }

    /// Every stored (key, item).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.slots
            .iter()
            .flatten()
            .map(|(key, item)| (key.as_str(), item))
    }

    /// Up to `limit` stored items whose dot product with `query` is at least `threshold`,
    /// best first, with that score. `query` must be unit length for the score to be a cosine.
    pub fn best_matches(
        &self,
        query: &[f32],
        threshold: f32,
        limit: usize,
    ) -> Vec<(&str, &T, f32)> {
        if self.dim == 0 || query.len() != self.dim || limit == 0 {
            return Vec::new();
        }
        let mut query_codes = vec![0i16; self.dim];
        let q = RowCode::quantize(query, &mut query_codes);
        let mut found: Vec<(usize, f32)> = Vec::new();
        for (slot, (codes, row)) in self
            .codes
            .chunks_exact(self.dim)
            .zip(&self.rows)
            .enumerate()
        {
            let approx = q.scale * row.scale * dot_i8(codes, &query_codes) as f32;
            if approx + q.error_bound(row, self.dim) < threshold {
                continue;
            }
            let exact = &self.matrix[slot * self.dim..(slot + 1) * self.dim];
            let score = dot(exact, query);
            if score >= threshold && self.slots[slot].is_some() {
                found.push((slot, score));
            }
        }
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        found.truncate(limit);
        found
            .into_iter()
            .filter_map(|(slot, score)| {
                self.slots[slot]
                    .as_ref()
                    .map(|(key, item)| (key.as_str(), item, score))
            })
            .collect()
    }
}

/// An 8-bit code of one vector: `v[i] = codes[i] * scale + e[i]` with `|e[i]| ≤ scale / 2`.
#[derive(Debug, Clone, Copy, Default)]
struct RowCode {
    scale: f32,
    /// L1 norm of the dequantized vector (`Σ |codes[i]| * scale`).
    l1: f32,
}

impl RowCode {
    /// Quantizes `v` into `codes` (same length) with the step that maps its largest
    /// magnitude to 127.
    fn quantize(v: &[f32], codes: &mut [i16]) -> RowCode {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if max == 0.0 || !max.is_finite() {
            codes.fill(0);
            return RowCode::default();
        }
        let scale = max / 127.0;
        let mut l1 = 0.0f32;
        for (code, x) in codes.iter_mut().zip(v) {
            let c = (x / scale).round().clamp(-127.0, 127.0);
            *code = c as i16;
            l1 += c.abs() * scale;
        }
        RowCode { scale, l1 }
    }

    /// An upper bound of `|a·b − approx(a·b)|` for vectors of `dim` coded as `self` and
    /// `other`: with `a = â + ea`, `b = b̂ + eb`, the error is `â·eb + ea·b̂ + ea·eb`, bounded
    /// by `|â|₁·sb/2 + |b̂|₁·sa/2 + dim·sa·sb/4`; plus a margin for `f32` rounding.
    fn error_bound(&self, other: &RowCode, dim: usize) -> f32 {
        self.l1 * other.scale / 2.0
            + other.l1 * self.scale / 2.0
            + dim as f32 * self.scale * other.scale / 4.0
            + 1e-4
    }
}

/// Integer dot product of two codes (exact: |products| ≤ 127², so any realistic dimension
/// sums within `i32`). The codes are kept in `i16` lanes because widening multiply-adds of
/// 16-bit lanes are what baseline x86-64 (SSE2 `pmaddwd`) vectorises well.
fn dot_i8(a: &[i16], b: &[i16]) -> i32 {
    let mut acc = [0i32; 16];
    let chunks_a = a.chunks_exact(16);
    let chunks_b = b.chunks_exact(16);
    let tail: i32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..16 {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// Dot product with eight independent accumulators, so the loop vectorises without
/// `-ffast-math` style reassociation.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn finds_the_closest_above_threshold_and_reuses_slots() {
        let mut index = VectorIndex::default();
        index.insert("a".into(), &unit(&[1.0, 0.0, 0.0]), 1);
        index.insert("b".into(), &unit(&[0.9, 0.1, 0.0]), 2);
        index.insert("c".into(), &unit(&[0.0, 1.0, 0.0]), 3);
        let hits = index.best_matches(&unit(&[1.0, 0.05, 0.0]), 0.9, 5);
        let keys: Vec<&str> = hits.iter().map(|h| h.0).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(hits[0].2 > hits[1].2);

        assert_eq!(index.remove("a"), Some(1));
        assert!(index.get("a").is_none());
        let keys: Vec<&str> = index
            .best_matches(&unit(&[1.0, 0.0, 0.0]), 0.9, 5)
            .iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(keys, ["b"]);
        index.insert("d".into(), &unit(&[0.0, 0.0, 1.0]), 4);
        assert_eq!(index.slots.len(), 3, "the freed slot is reused");
        assert_eq!(index.len(), 3);
        // A vector of the wrong dimension is stored but never matched.
        index.insert("e".into(), &[1.0, 0.0], 5);
        assert_eq!(index.get("e"), Some(&5));
        assert!(index.best_matches(&[1.0, 0.0], 0.1, 5).is_empty());
    }

    /// Pseudo-random unit vectors (xorshift), clustered around a few directions like sentence
    /// embeddings are, so many scores fall near any threshold.
    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 20_000) as f32 / 10_000.0 - 1.0
        };
        let centres: Vec<Vec<f32>> = (0..4).map(|_| (0..dim).map(|_| next()).collect()).collect();
        (0..n)
            .map(|i| {
                let c = &centres[i % centres.len()];
                unit(&c.iter().map(|x| x + 0.35 * next()).collect::<Vec<_>>())
            })
            .collect()
    }

    #[test]
    fn the_8_bit_prefilter_returns_exactly_what_a_full_f32_scan_returns() {
        let stored = clustered(2_000, 384, 7);
        let mut index = VectorIndex::default();
        for (i, v) in stored.iter().enumerate() {
            index.insert(format!("k{i}"), v, i);
        }
        for (q, query) in clustered(50, 384, 99).iter().enumerate() {
            for threshold in [0.5f32, 0.8, 0.9, 0.95] {
                let mut expected: Vec<(usize, f32)> = stored
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i, dot(v, query)))
                    .filter(|(_, s)| *s >= threshold)
                    .collect();
                expected.sort_by(|a, b| b.1.total_cmp(&a.1));
                expected.truncate(8);
                let got: Vec<(usize, f32)> = index
                    .best_matches(query, threshold, 8)
                    .into_iter()
                    .map(|(_, item, score)| (*item, score))
                    .collect();
                assert_eq!(got, expected, "query {q}, threshold {threshold}");
            }
        }
    }

    #[test]
    fn the_error_bound_holds_for_every_pair() {
        let vectors = clustered(300, 384, 3);
        let coded: Vec<(Vec<i16>, RowCode)> = vectors
            .iter()
            .map(|v| {
                let mut codes = vec![0i16; v.len()];
                let row = RowCode::quantize(v, &mut codes);
                (codes, row)
            })
            .collect();
        for (a, (ca, ra)) in vectors.iter().zip(&coded) {
            for (b, (cb, rb)) in vectors.iter().zip(&coded).take(40) {
                let approx = ra.scale * rb.scale * dot_i8(ca, cb) as f32;
                let bound = ra.error_bound(rb, 384);
                assert!(
                    (dot(a, b) - approx).abs() <= bound,
                    "{approx} vs {}",
                    dot(a, b)
                );
                assert!(bound < 0.1, "a useful bound: {bound}");
            }
        }
    }

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..384).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..384).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
    }
}
