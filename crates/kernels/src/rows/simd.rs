//! The row kernels in AVX-512 and AVX2 + FMA (+ F16C for the f16 cache) intrinsics, written once
//! over a small vector trait.
//!
//! Explicit intrinsics rather than loops left to LLVM: these were first built at opt-level "s" (the
//! binary-size budget), where LLVM vectorises none of these loops (checked in the
//! emitted assembly: `vmulss`/`vaddss` one lane at a time, 30 % of an embedding batch in
//! softmax alone).

use std::arch::x86_64::*;

use half::f16;

use super::bodies;

/// A vector of f32 lanes. Values of the implementing types are only made inside the
/// `#[target_feature]` entry points below, which `RowOps::detect` calls only on a CPU that has
/// the features, so the intrinsics in these methods always run where they exist.
trait F32s: Copy {
    const LANES: usize;
    /// # Safety
    /// `p` points at `LANES` readable values.
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// `p` points at `LANES` writable values.
    unsafe fn store(self, p: *mut f32);
    /// # Safety
    /// `p` points at `LANES` readable f16 values.
    unsafe fn load_f16(p: *const f16) -> Self;
    fn splat(x: f32) -> Self;
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn div(self, b: Self) -> Self;
    /// `self × b + c`.
    fn mul_add(self, b: Self, c: Self) -> Self;
    fn max(self, b: Self) -> Self;
    fn min(self, b: Self) -> Self;
    fn abs(self) -> Self;
    /// 2ⁿ for lanes holding `n + 1.5 × 2²³` (see `exp`).
    fn pow2_of_shifted(self) -> Self;
    /// Per lane: `if self >= 0 { a } else { b }`.
    fn select_nonnegative(self, a: Self, b: Self) -> Self;
    fn sum_lanes(self) -> f32;
    fn max_lanes(self) -> f32;
}

/// 1.5 × 2²³: adding and subtracting it rounds to the nearest integer.
const ROUND: f32 = 12_582_912.0;

#[derive(Clone, Copy)]
struct Avx512(__m512);

// SAFETY (every method): see the trait's comment.
impl F32s for Avx512 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Self(unsafe { _mm512_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const f16) -> Self {
        Self(unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) })
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Self(unsafe { _mm512_set1_ps(x) })
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        Self(unsafe { _mm512_add_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        Self(unsafe { _mm512_sub_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        Self(unsafe { _mm512_mul_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn div(self, b: Self) -> Self {
        Self(unsafe { _mm512_div_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        Self(unsafe { _mm512_fmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    fn max(self, b: Self) -> Self {
        Self(unsafe { _mm512_max_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn min(self, b: Self) -> Self {
        Self(unsafe { _mm512_min_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Self(unsafe { _mm512_abs_ps(self.0) })
    }
    #[inline(always)]
    fn pow2_of_shifted(self) -> Self {
        unsafe {
            let n = _mm512_sub_epi32(
                _mm512_castps_si512(self.0),
                _mm512_set1_epi32(ROUND.to_bits() as i32),
            );
            let biased = _mm512_add_epi32(n, _mm512_set1_epi32(127));
            Self(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(biased)))
        }
    }
    #[inline(always)]
    fn select_nonnegative(self, a: Self, b: Self) -> Self {
        unsafe {
            let m = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(self.0, _mm512_setzero_ps());
            Self(_mm512_mask_blend_ps(m, b.0, a.0))
        }
    }
    #[inline(always)]
    fn sum_lanes(self) -> f32 {
        unsafe { _mm512_reduce_add_ps(self.0) }
    }
    #[inline(always)]
    fn max_lanes(self) -> f32 {
        unsafe { _mm512_reduce_max_ps(self.0) }
    }
}

#[derive(Clone, Copy)]
struct Avx2(__m256);

impl Avx2 {
    #[inline(always)]
    fn lanes(self) -> [f32; 8] {
        let mut out = [0.0; 8];
        // SAFETY: `out` has 8 values.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), self.0) };
        out
    }
}

// SAFETY (every method): see the trait's comment.
impl F32s for Avx2 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Self(unsafe { _mm256_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { _mm256_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const f16) -> Self {
        Self(unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) })
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Self(unsafe { _mm256_set1_ps(x) })
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        Self(unsafe { _mm256_add_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        Self(unsafe { _mm256_sub_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        Self(unsafe { _mm256_mul_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn div(self, b: Self) -> Self {
        Self(unsafe { _mm256_div_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        Self(unsafe { _mm256_fmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    fn max(self, b: Self) -> Self {
        Self(unsafe { _mm256_max_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn min(self, b: Self) -> Self {
        Self(unsafe { _mm256_min_ps(self.0, b.0) })
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Self(unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0) })
    }
    #[inline(always)]
    fn pow2_of_shifted(self) -> Self {
        unsafe {
            let n = _mm256_sub_epi32(
                _mm256_castps_si256(self.0),
                _mm256_set1_epi32(ROUND.to_bits() as i32),
            );
            let biased = _mm256_add_epi32(n, _mm256_set1_epi32(127));
            Self(_mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased)))
        }
    }
    #[inline(always)]
    fn select_nonnegative(self, a: Self, b: Self) -> Self {
        unsafe {
            let m = _mm256_cmp_ps::<_CMP_GE_OQ>(self.0, _mm256_setzero_ps());
            Self(_mm256_blendv_ps(b.0, a.0, m))
        }
    }
    #[inline(always)]
    fn sum_lanes(self) -> f32 {
        self.lanes().iter().sum()
    }
    #[inline(always)]
    fn max_lanes(self) -> f32 {
        self.lanes()
            .iter()
            .fold(f32::NEG_INFINITY, |m, &x| m.max(x))
    }
}

/// e^x, lane by lane: the same steps and polynomial as `bodies::exp`.
#[inline(always)]
fn exp<V: F32s>(x: V) -> V {
    let x = x.max(V::splat(-87.0)).min(V::splat(88.0));
    let shifted = x.mul_add(V::splat(std::f32::consts::LOG2_E), V::splat(ROUND));
    let n = shifted.sub(V::splat(ROUND));
    let r = n.mul_add(V::splat(-0.693_359_4), x);
    let r = n.mul_add(V::splat(2.121_944_4e-4), r);
    let mut p = V::splat(1.987_569_1e-4);
    for c in [1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = p.mul_add(r, V::splat(c));
    }
    let e = p.mul(r).mul_add(r, r).add(V::splat(1.0));
    e.mul(shifted.pow2_of_shifted())
}

/// Whole vectors of `row`, then the index where the scalar tail starts.
#[inline(always)]
fn whole<V: F32s>(len: usize) -> (impl Iterator<Item = usize>, usize) {
    let end = len / V::LANES * V::LANES;
    ((0..end).step_by(V::LANES), end)
}

#[inline(always)]
fn softmax<V: F32s>(row: &mut [f32], scale: f32) {
    let (starts, tail) = whole::<V>(row.len());
    let p = row.as_mut_ptr();
    let mut top = V::splat(f32::NEG_INFINITY);
    for i in starts {
        // SAFETY: `whole` yields starts of full vectors inside `row`.
        top = top.max(unsafe { V::load(p.add(i)) });
    }
    let max = row[tail..].iter().fold(top.max_lanes(), |m, &x| m.max(x));
    let (scale_v, shift) = (V::splat(scale), V::splat(-max * scale));
    let mut total = V::splat(0.0);
    let (starts, _) = whole::<V>(row.len());
    for i in starts {
        // SAFETY: as above.
        unsafe {
            let e = exp(V::load(p.add(i)).mul_add(scale_v, shift));
            e.store(p.add(i));
            total = total.add(e);
        }
    }
    let mut sum = total.sum_lanes();
    for x in &mut row[tail..] {
        *x = bodies::exp(*x * scale - max * scale);
        sum += *x;
    }
    let inverse = V::splat(1.0 / sum);
    let (starts, _) = whole::<V>(row.len());
    for i in starts {
        // SAFETY: as above.
        unsafe { V::load(p.add(i)).mul(inverse).store(p.add(i)) };
    }
    for x in &mut row[tail..] {
        *x /= sum;
    }
}

#[inline(always)]
fn gelu<V: F32s>(row: &mut [f32]) {
    let (starts, tail) = whole::<V>(row.len());
    let p = row.as_mut_ptr();
    let one = V::splat(1.0);
    for i in starts {
        // SAFETY: as in `softmax`.
        unsafe {
            let x = V::load(p.add(i));
            let z = x.abs().mul(V::splat(std::f32::consts::FRAC_1_SQRT_2));
            let t = one.div(z.mul_add(V::splat(0.327_591_1), one));
            let mut poly = V::splat(1.061_405_4);
            for c in [-1.453_152, 1.421_413_8, -0.284_496_74, 0.254_829_6] {
                poly = poly.mul_add(t, V::splat(c));
            }
            let tail = poly.mul(t).mul(exp(V::splat(0.0).sub(z.mul(z))));
            let one_plus_erf = x.select_nonnegative(V::splat(2.0).sub(tail), tail);
            x.mul(V::splat(0.5)).mul(one_plus_erf).store(p.add(i));
        }
    }
    bodies::gelu(&mut row[tail..]);
}

#[inline(always)]
fn add_layer_norm<V: F32s>(
    row: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let len = row.len();
    if residual.len() < len || gamma.len() < len || beta.len() < len {
        return bodies::add_layer_norm(row, residual, gamma, beta, eps);
    }
    let (starts, tail) = whole::<V>(len);
    let p = row.as_mut_ptr();
    let mut total = V::splat(0.0);
    for i in starts {
        // SAFETY: as in `softmax`; the other slices are at least as long (checked above).
        unsafe {
            let x = V::load(p.add(i)).add(V::load(residual.as_ptr().add(i)));
            x.store(p.add(i));
            total = total.add(x);
        }
    }
    let mut sum = total.sum_lanes();
    for (x, r) in row[tail..].iter_mut().zip(&residual[tail..]) {
        *x += r;
        sum += *x;
    }
    let mean = sum / len as f32;
    let mean_v = V::splat(mean);
    let mut squares = V::splat(0.0);
    let (starts, _) = whole::<V>(len);
    for i in starts {
        // SAFETY: as above.
        let d = unsafe { V::load(p.add(i)) }.sub(mean_v);
        squares = d.mul_add(d, squares);
    }
    let var = (squares.sum_lanes()
        + row[tail..]
            .iter()
            .map(|x| (x - mean) * (x - mean))
            .sum::<f32>())
        / len as f32;
    let inverse = 1.0 / (var + eps).sqrt();
    let inverse_v = V::splat(inverse);
    let (starts, _) = whole::<V>(len);
    for i in starts {
        // SAFETY: as above.
        unsafe {
            let x = V::load(p.add(i)).sub(mean_v).mul(inverse_v);
            let y = x.mul_add(
                V::load(gamma.as_ptr().add(i)),
                V::load(beta.as_ptr().add(i)),
            );
            y.store(p.add(i));
        }
    }
    for ((x, g), b) in row[tail..]
        .iter_mut()
        .zip(&gamma[tail..])
        .zip(&beta[tail..])
    {
        *x = (*x - mean) * inverse * g + b;
    }
}

/// Positions whose keys or values are widened to f32 at a time, then read by every query
/// head of the group from L1 (the f16 conversion is done once per group, not once per head).
const WIDENED_ROWS: usize = 64;

/// Widens `rows` rows of `d` f16 values from `src` into `dst`.
///
/// # Safety
/// `src` holds `rows * d` values, `dst` room for as many, and `d` is whole vectors.
#[inline(always)]
unsafe fn widen<V: F32s>(src: *const f16, dst: *mut f32, len: usize) {
    for i in (0..len).step_by(V::LANES) {
        unsafe { V::load_f16(src.add(i)).store(dst.add(i)) };
    }
}

#[inline(always)]
fn attend<V: F32s>(
    queries: &[f32],
    head_dim: usize,
    keys: &[f16],
    values: &[f16],
    scale: f32,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let d = head_dim;
    let groups = queries.len() / d.max(1);
    let n = scores.len() / groups.max(1);
    if d == 0
        || !d.is_multiple_of(V::LANES)
        || groups * d != queries.len()
        || groups * n != scores.len()
        || keys.len() < n * d
        || values.len() < n * d
        || out.len() < groups * d
    {
        return bodies::attend(queries, head_dim, keys, values, scale, scores, out);
    }
    let mut wide = vec![0f32; WIDENED_ROWS * d];
    let w = wide.as_mut_ptr();
    for start in (0..n).step_by(WIDENED_ROWS) {
        let rows = WIDENED_ROWS.min(n - start);
        // SAFETY: rows `start..start + rows < n` of `keys` (checked above) into `wide`.
        unsafe { widen::<V>(keys.as_ptr().add(start * d), w, rows * d) };
        for (q, row) in queries.chunks_exact(d).zip(scores.chunks_exact_mut(n)) {
            for (r, score) in row[start..start + rows].iter_mut().enumerate() {
                let mut acc = V::splat(0.0);
                for i in (0..d).step_by(V::LANES) {
                    // SAFETY: `i + LANES <= d`; row `r` of `wide` was filled above.
                    acc = unsafe {
                        V::load(q.as_ptr().add(i)).mul_add(V::load(w.add(r * d + i)), acc)
                    };
                }
                *score = acc.sum_lanes();
            }
        }
    }
    for row in scores.chunks_exact_mut(n) {
        softmax::<V>(row, scale);
    }
    out[..groups * d].iter_mut().for_each(|o| *o = 0.0);
    for start in (0..n).step_by(WIDENED_ROWS) {
        let rows = WIDENED_ROWS.min(n - start);
        // SAFETY: as for the keys.
        unsafe { widen::<V>(values.as_ptr().add(start * d), w, rows * d) };
        for (weights, o) in scores.chunks_exact(n).zip(out.chunks_exact_mut(d)) {
            let weights = &weights[start..start + rows];
            for i in (0..d).step_by(V::LANES) {
                // Four running sums, so consecutive positions' FMAs do not wait on each other.
                let mut acc = [V::splat(0.0); 4];
                let mut quads = weights.chunks_exact(4);
                let mut r = 0;
                for quad in &mut quads {
                    for (u, (a, &p)) in acc.iter_mut().zip(quad).enumerate() {
                        // SAFETY: row `r + u < rows` of `wide`, `i + LANES <= d`.
                        *a = V::splat(p).mul_add(unsafe { V::load(w.add((r + u) * d + i)) }, *a);
                    }
                    r += 4;
                }
                for &p in quads.remainder() {
                    // SAFETY: as above.
                    acc[0] = V::splat(p).mul_add(unsafe { V::load(w.add(r * d + i)) }, acc[0]);
                    r += 1;
                }
                let total = acc[0].add(acc[1]).add(acc[2].add(acc[3]));
                // SAFETY: `o` holds `d` values.
                unsafe {
                    let at = o.as_mut_ptr().add(i);
                    V::load(at).add(total).store(at);
                }
            }
        }
    }
}

/// One module of entry points per feature set, each running the generic kernels on its
/// vector type.
macro_rules! level {
    ($module:ident, $vector:ty, $features:literal) => {
        pub mod $module {
            use super::*;

            /// # Safety
            /// The CPU has the features named above.
            #[target_feature(enable = $features)]
            pub unsafe fn softmax(row: &mut [f32], scale: f32) {
                super::softmax::<$vector>(row, scale)
            }

            /// # Safety
            /// As above.
            #[target_feature(enable = $features)]
            pub unsafe fn gelu(row: &mut [f32]) {
                super::gelu::<$vector>(row)
            }

            /// # Safety
            /// As above.
            #[target_feature(enable = $features)]
            pub unsafe fn add_layer_norm(
                row: &mut [f32],
                residual: &[f32],
                gamma: &[f32],
                beta: &[f32],
                eps: f32,
            ) {
                super::add_layer_norm::<$vector>(row, residual, gamma, beta, eps)
            }

            /// # Safety
            /// As above.
            #[target_feature(enable = $features)]
            pub unsafe fn attend(
                queries: &[f32],
                head_dim: usize,
                keys: &[f16],
                values: &[f16],
                scale: f32,
                scores: &mut [f32],
                out: &mut [f32],
            ) {
                super::attend::<$vector>(queries, head_dim, keys, values, scale, scores, out)
            }
        }
    };
}
level!(avx512, Avx512, "avx512f,avx512dq,avx2,fma,f16c");
level!(avx2, Avx2, "avx2,fma,f16c");
