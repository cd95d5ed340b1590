//! A flat vector index for one namespace: unit vectors in one contiguous `f32` matrix (row per
//! slot) so a semantic lookup is a tight dot-product loop the compiler vectorises, plus a map
//! from exact key to slot. Removed slots are zeroed and reused. Brute force is the right tool
//! here: a namespace holds at most `max_entries` vectors (1,000 by default), and a full scan of
//! 10,000 384-dimensional vectors stays in the low hundreds of microseconds (docs/cache.md).

use std::collections::HashMap;

#[derive(Debug)]
pub struct VectorIndex<T> {
    dim: usize,
    matrix: Vec<f32>,
    slots: Vec<Option<(String, T)>>,
    free: Vec<usize>,
    by_key: HashMap<String, usize>,
}

impl<T> Default for VectorIndex<T> {
    fn default() -> Self {
        VectorIndex {
            dim: 0,
            matrix: Vec::new(),
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
        }
        let replaced = self.remove(&key);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.matrix.resize(self.matrix.len() + self.dim, 0.0);
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
        }
        self.by_key.insert(key.clone(), slot);
        self.slots[slot] = Some((key, item));
        replaced
    }

    pub fn remove(&mut self, key: &str) -> Option<T> {
        let slot = self.by_key.remove(key)?;
        if self.dim > 0 {
            self.matrix[slot * self.dim..(slot + 1) * self.dim].fill(0.0);
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
        let mut found: Vec<(usize, f32)> = Vec::new();
        for (slot, row) in self.matrix.chunks_exact(self.dim).enumerate() {
            let score = dot(row, query);
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

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..384).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..384).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
    }
}
