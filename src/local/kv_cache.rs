//! One layer's keys and values of the positions run so far, for the llama runner.
//!
//! Stored in f16, as llama.cpp stores its cache: half the memory of f32 (47 MB instead of 94 for
//! SmolLM2-135M at 2,024 positions), and attention reads half the bytes. Each key/value head's
//! rows are contiguous, so one query reads its head's keys in order; new positions are
//! appended in place (the tensor cache before this was concatenated anew for every chunk and
//! every generated token: a copy of the whole cache per step).

use half::f16;
use half::slice::HalfFloatSliceExt;

/// Keys and values of one layer, per key/value head: positions × head size.
pub struct KvCache {
    head_dim: usize,
    keys: Vec<Vec<f16>>,
    values: Vec<Vec<f16>>,
}

impl KvCache {
    /// An empty cache for `kv_heads` heads of `head_dim` values.
    pub fn new(kv_heads: usize, head_dim: usize) -> Self {
        Self {
            head_dim,
            keys: vec![Vec::new(); kv_heads],
            values: vec![Vec::new(); kv_heads],
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.keys
            .first()
            .map_or(0, |k| k.len() / self.head_dim.max(1))
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `len` positions.
    pub fn truncate(&mut self, len: usize) {
        for rows in self.keys.iter_mut().chain(&mut self.values) {
            rows.truncate(len * self.head_dim);
        }
    }

    /// Appends positions: `keys` and `values` are rows of `kv_heads × head_dim`, one per
    /// position, as the key and value projections give them.
    pub fn append(&mut self, keys: &[f32], values: &[f32]) {
        let d = self.head_dim;
        let width = d * self.keys.len();
        for (cache, new) in [(&mut self.keys, keys), (&mut self.values, values)] {
            for row in new.chunks_exact(width.max(1)) {
                for (head, part) in cache.iter_mut().zip(row.chunks_exact(d)) {
                    let start = head.len();
                    head.resize(start + d, f16::ZERO);
                    head[start..].convert_from_f32_slice(part);
                }
            }
        }
    }

    /// The keys and values of head `head`: positions × head size each.
    pub fn head(&self, head: usize) -> (&[f16], &[f16]) {
        match (self.keys.get(head), self.values.get(head)) {
            (Some(k), Some(v)) => (k, v),
            _ => (&[], &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_appended_per_head_and_cut_back() {
        let mut cache = KvCache::new(2, 2);
        // Two positions, each [head 0: a b, head 1: c d].
        cache.append(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[-1.0; 8]);
        assert_eq!(cache.len(), 2);
        let (k1, v1) = cache.head(1);
        let k1: Vec<f32> = k1.iter().map(|x| x.to_f32()).collect();
        assert_eq!(k1, [3.0, 4.0, 7.0, 8.0]);
        assert_eq!(v1.len(), 4);
        cache.truncate(1);
        assert_eq!(cache.len(), 1);
        let k0: Vec<f32> = cache.head(0).0.iter().map(|x| x.to_f32()).collect();
        assert_eq!(k0, [1.0, 2.0]);
        assert!(cache.head(2).0.is_empty());
    }
}
