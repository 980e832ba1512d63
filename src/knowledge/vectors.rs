//! The embeddings of every chunk held in memory as int8 codes, for the similarity pass of a
//! search: 100,000 chunks of 384 dimensions take 38 MB (f32 would take 154 MB, and reading them
//! from SQLite for every question took most of a search). Each vector is scaled by its own
//! largest component, so the codes keep the ranking; the candidates' scores are then computed
//! again from the stored f32 vectors, so no score a user sees is approximate.

use rayon::prelude::*;

use crate::knowledge::KnowledgeError;
use crate::knowledge::db::KnowledgeDb;

/// The in-memory index of one database state (its `generation`).
#[derive(Debug, Default)]
pub struct VectorIndex {
    /// The database generation it was read at.
    pub generation: i64,
    dims: usize,
    ids: Vec<i64>,
    /// Index into `bases` per row.
    base_of: Vec<u32>,
    bases: Vec<String>,
    /// `dims` codes per row.
    codes: Vec<i8>,
    /// Per row: the factor turning code dot products back into the vector's scale.
    scales: Vec<f32>,
}

/// Codes of `v` and the factor that turns them back (`v[i] ≈ codes[i] × scale`).
fn quantize(v: &[f32], out: &mut Vec<i8>) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        out.extend(std::iter::repeat_n(0, v.len()));
        return 0.0;
    }
    let scale = max / 127.0;
    out.extend(
        v.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8),
    );
    scale
}

/// Dot product of two code rows (widened so no sum overflows: 384 × 127² fits an i32).
fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

/// The fastest `dot` this CPU runs. The crate is built at opt-level "s", where LLVM leaves the
/// plain loop one lane at a time (18–28 ms for 100,000 rows), so AVX2 is written out.
fn dot_for_this_cpu() -> fn(&[i8], &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        return |a, b| {
            // SAFETY: chosen only after seeing the CPU has AVX2.
            unsafe { avx2::dot(a, b) }
        };
    }
    dot
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// `super::dot` 32 codes at a time: sign-extended to i16, multiplied and added in pairs
    /// into i32 lanes (`vpmaddwd`).
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn dot(a: &[i8], b: &[i8]) -> i32 {
        let len = a.len().min(b.len());
        let whole = len / 32 * 32;
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        while i < whole {
            // SAFETY: `i + 32 <= len` for both slices.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(i).cast()),
                    _mm256_loadu_si256(b.as_ptr().add(i).cast()),
                )
            };
            let (x_lo, y_lo) = (
                _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x)),
                _mm256_cvtepi8_epi16(_mm256_castsi256_si128(y)),
            );
            let (x_hi, y_hi) = (
                _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(x)),
                _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(y)),
            );
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x_lo, y_lo));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x_hi, y_hi));
            i += 32;
        }
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` holds 8 i32.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
        lanes.iter().sum::<i32>() + super::dot(&a[whole..len], &b[whole..len])
    }
}

impl VectorIndex {
    /// Reads every embedded chunk of the database.
    pub fn load(db: &KnowledgeDb) -> Result<Self, KnowledgeError> {
        let generation = db.generation()?;
        let mut index = Self {
            generation,
            ..Self::default()
        };
        db.for_each_embedding(|id, base, vector| {
            if index.dims == 0 {
                index.dims = vector.len();
            }
            if vector.len() != index.dims {
                return; // another model's vector: the base is being re-indexed
            }
            let base_index = match index.bases.iter().position(|b| b == base) {
                Some(i) => i,
                None => {
                    index.bases.push(base.to_string());
                    index.bases.len() - 1
                }
            };
            index.ids.push(id);
            index.base_of.push(base_index as u32);
            let scale = quantize(vector, &mut index.codes);
            index.scales.push(scale);
        })?;
        Ok(index)
    }

    /// Chunks held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no chunk is held.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Bytes of memory the index holds.
    pub fn heap_bytes(&self) -> usize {
        self.codes.capacity()
            + self.ids.capacity() * 8
            + self.base_of.capacity() * 4
            + self.scales.capacity() * 4
    }

    /// The `n` chunks of `bases` most similar to the unit vector `query`: (id, approximate
    /// cosine), best first.
    pub fn nearest(&self, query: &[f32], bases: &[String], n: usize) -> Vec<(i64, f32)> {
        if query.len() != self.dims || self.dims == 0 || n == 0 {
            return Vec::new();
        }
        let wanted: Vec<bool> = self.bases.iter().map(|b| bases.contains(b)).collect();
        let mut q = Vec::with_capacity(self.dims);
        let q_scale = quantize(query, &mut q);
        let dot = dot_for_this_cpu();
        // Both cores: the scan reads 38 MB of codes for 100,000 chunks.
        let mut scored: Vec<(f32, u32)> = self
            .codes
            .par_chunks_exact(self.dims)
            .enumerate()
            .filter(|(row, _)| wanted[self.base_of[*row] as usize])
            .map(|(row, codes)| {
                let score = dot(codes, &q) as f32 * q_scale * self.scales[row];
                (score, row as u32)
            })
            .collect();
        let n = n.min(scored.len());
        if n == 0 {
            return Vec::new();
        }
        if n < scored.len() {
            scored.select_nth_unstable_by(n - 1, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(n);
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .map(|(score, row)| (self.ids[row as usize], score))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn codes_keep_the_dot_product_close() {
        let a = unit(&[0.3, -0.2, 0.9, 0.1, -0.05, 0.4]);
        let b = unit(&[0.1, -0.3, 0.8, -0.2, 0.0, 0.5]);
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        let (sa, sb) = (quantize(&a, &mut ca), quantize(&b, &mut cb));
        let approx = dot(&ca, &cb) as f32 * sa * sb;
        assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
    }

    #[test]
    fn the_cpu_s_dot_product_equals_the_plain_one() {
        // Lengths around the 32-code blocks, and the extremes (no overflow at ±127).
        for len in [0, 5, 31, 32, 33, 384, 390] {
            let a: Vec<i8> = (0..len).map(|i| ((i * 37) % 255) as i8).collect();
            let b: Vec<i8> = (0..len).map(|i| ((i * 91 + 7) % 255) as i8).collect();
            assert_eq!(dot_for_this_cpu()(&a, &b), dot(&a, &b), "len {len}");
        }
        let extreme = vec![-127i8; 384];
        assert_eq!(dot_for_this_cpu()(&extreme, &extreme), 384 * 127 * 127);
    }

    #[test]
    fn a_zero_vector_scores_zero_and_does_not_divide_by_zero() {
        let mut codes = Vec::new();
        assert_eq!(quantize(&[0.0, 0.0], &mut codes), 0.0);
        assert_eq!(codes, [0, 0]);
    }
}
