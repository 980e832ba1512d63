//! Row kernels: softmax, GELU and layer norm in place for the BERT encoder
//! (src/local/bert.rs), and the attention of the query heads that share a key/value head over
//! f16 keys and values for the llama runner (src/local/llama.rs).
//!
//! In AVX-512 or AVX2 + FMA + F16C (rows/simd.rs), chosen once at run time, with a
//! one-lane version for other CPUs. candle ran these op by op, each allocating its output,
//! with libm's `expf` one lane at a time; that and the page faults were two thirds of an
//! embedding batch's time (`perf`, docs/PERFORMANCE.md).

use half::f16;

/// Lanes of the partial sums (one AVX-512 register of f32).
const LANES: usize = 16;

/// The kernels built for this CPU.
#[derive(Clone, Copy, Debug)]
pub struct RowOps {
    level: Level,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Level {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

/// Calls `$name` of the chosen level.
macro_rules! dispatch {
    ($ops:ident, $name:ident($($arg:expr),*)) => {
        match $ops.level {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` chose this level only after seeing the CPU has its features.
            Level::Avx512 => unsafe { simd::avx512::$name($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Level::Avx2 => unsafe { simd::avx2::$name($($arg),*) },
            Level::Portable => bodies::$name($($arg),*),
        }
    };
}

impl RowOps {
    /// The fastest kernels this CPU runs.
    pub fn detect() -> Self {
        // Both vector levels need what the quantized kernels need (AVX2, FMA, F16C).
        #[cfg(target_arch = "x86_64")]
        {
            if crate::quant::simd() {
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                {
                    return Self {
                        level: Level::Avx512,
                    };
                }
                return Self { level: Level::Avx2 };
            }
        }
        Self::portable()
    }

    /// The one-lane kernels (any CPU).
    pub fn portable() -> Self {
        Self {
            level: Level::Portable,
        }
    }

    /// Every level this CPU runs, fastest first (tests hold each to the same results).
    pub fn available() -> Vec<Self> {
        let mut out = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if let Level::Avx512 = Self::detect().level {
                out.push(Self {
                    level: Level::Avx512,
                });
            }
            if crate::quant::simd() {
                out.push(Self { level: Level::Avx2 });
            }
        }
        out.push(Self::portable());
        out
    }

    /// `row = softmax(row * scale)`.
    pub fn softmax(self, row: &mut [f32], scale: f32) {
        dispatch!(self, softmax(row, scale))
    }

    /// `row = gelu(row)` with the exact (erf) form BERT uses.
    pub fn gelu(self, row: &mut [f32]) {
        dispatch!(self, gelu(row))
    }

    /// `row = layer_norm(row + residual) * gamma + beta`.
    pub fn add_layer_norm(
        self,
        row: &mut [f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        dispatch!(self, add_layer_norm(row, residual, gamma, beta, eps))
    }

    /// Attention of the query heads that share one key/value head: for each query `q` of
    /// `queries` (rows of `head_dim`), `out = softmax(scale · keys q) values`, where `keys`
    /// and `values` hold at least `n` rows of `head_dim` and `scores` is the working space,
    /// one row of `n` per query.
    #[allow(clippy::too_many_arguments)]
    pub fn attend(
        self,
        queries: &[f32],
        head_dim: usize,
        keys: &[f16],
        values: &[f16],
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        dispatch!(
            self,
            attend(queries, head_dim, keys, values, scale, scores, out)
        )
    }
}

#[cfg(target_arch = "x86_64")]
mod simd;

/// One lane at a time: the portable kernels, and the tails of the vector ones.
mod bodies {
    use super::LANES;
    use half::f16;

    /// e^x to about 2 ulp (Cephes' polynomial, with the rounding and the power of two done in
    /// float and integer lanes so the loop vectorises).
    #[inline(always)]
    pub fn exp(x: f32) -> f32 {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        // Adding and subtracting 1.5 × 2²³ rounds to the nearest integer in any lane width.
        const ROUND: f32 = 12_582_912.0;
        let x = x.clamp(-87.0, 88.0);
        let shifted = x * LOG2E + ROUND;
        let n = shifted - ROUND;
        let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
        let mut p = 1.987_569_1e-4_f32;
        p = p * r + 1.398_2e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 0.166_666_65;
        p = p * r + 0.5;
        let e = p * r * r + r + 1.0;
        // 2ⁿ from the integer in `shifted`'s low mantissa bits (no float-to-int conversion,
        // whose saturating `as` kept the loop scalar).
        let exponent = shifted
            .to_bits()
            .wrapping_sub(ROUND.to_bits())
            .wrapping_add(127);
        e * f32::from_bits(exponent << 23)
    }

    /// Sum of a row with `LANES` partial sums.
    #[inline(always)]
    fn sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
        let mut acc = [0.0_f32; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (a, &x) in acc.iter_mut().zip(chunk) {
                *a += f(x);
            }
        }
        acc.iter().sum::<f32>() + chunks.remainder().iter().map(|&x| f(x)).sum::<f32>()
    }

    #[inline(always)]
    pub fn softmax(row: &mut [f32], scale: f32) {
        let mut top = [f32::NEG_INFINITY; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (t, &x) in top.iter_mut().zip(chunk) {
                *t = t.max(x);
            }
        }
        let max = chunks
            .remainder()
            .iter()
            .chain(&top)
            .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let shift = max * scale;
        for x in row.iter_mut() {
            *x = exp(*x * scale - shift);
        }
        let inverse = 1.0 / sum(row, |x| x);
        for x in row.iter_mut() {
            *x *= inverse;
        }
    }

    #[inline(always)]
    pub fn gelu(row: &mut [f32]) {
        // 0.5·x·(1 + erf(x/√2)), erf by Abramowitz & Stegun 7.1.26 (error below 1.5e-7).
        // For x < 0, 1 + erf is taken as the tail itself rather than 1 − (1 − tail), which
        // would cancel.
        for x in row.iter_mut() {
            let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
            let t = 1.0 / (1.0 + 0.327_591_1 * z);
            let poly = ((((1.061_405_4 * t - 1.453_152) * t + 1.421_413_8) * t - 0.284_496_74) * t
                + 0.254_829_6)
                * t;
            let tail = poly * exp(-z * z);
            let one_plus_erf = if *x >= 0.0 { 2.0 - tail } else { tail };
            *x = 0.5 * *x * one_plus_erf;
        }
    }

    #[inline(always)]
    pub fn add_layer_norm(
        row: &mut [f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        for (x, &r) in row.iter_mut().zip(residual) {
            *x += r;
        }
        let n = row.len() as f32;
        let mean = sum(row, |x| x) / n;
        let var = sum(row, |x| (x - mean) * (x - mean)) / n;
        let inverse = 1.0 / (var + eps).sqrt();
        for ((x, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
            *x = (*x - mean) * inverse * g + b;
        }
    }

    #[inline(always)]
    pub fn attend(
        queries: &[f32],
        head_dim: usize,
        keys: &[f16],
        values: &[f16],
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let d = head_dim.max(1);
        let n = scores.len() / (queries.len() / d).max(1);
        for ((q, row), o) in queries
            .chunks_exact(d)
            .zip(scores.chunks_exact_mut(n.max(1)))
            .zip(out.chunks_exact_mut(d))
        {
            for (score, key) in row.iter_mut().zip(keys.chunks_exact(d)) {
                *score = q.iter().zip(key).map(|(&a, b)| a * b.to_f32()).sum();
            }
            softmax(row, scale);
            o.iter_mut().for_each(|o| *o = 0.0);
            for (&w, value) in row.iter().zip(values.chunks_exact(d)) {
                for (o, v) in o.iter_mut().zip(value) {
                    *o += w * v.to_f32();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf(x: f64) -> f64 {
        // Series to convergence: in f64 exact enough to judge a 1e-6 kernel for |x| ≤ 4.5.
        let mut term = x;
        let mut total = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 {
            n += 1.0;
            term *= -x * x / n;
            total += term / (2.0 * n + 1.0);
        }
        total * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn all_levels() -> Vec<RowOps> {
        RowOps::available()
    }

    #[test]
    fn exp_is_within_a_few_ulp_over_the_softmax_range() {
        for i in 0..=20_000 {
            let x = -87.0 + i as f32 * (87.0 + 88.0) / 20_000.0;
            let want = (x as f64).exp();
            let got = bodies::exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert!(bodies::exp(-1e4) >= 0.0 && bodies::exp(-1e4) < 1e-37);
    }

    #[test]
    fn gelu_matches_the_erf_form_on_every_level() {
        let xs: Vec<f32> = (0..=2_400).map(|i| -6.0 + i as f32 * 0.005).collect();
        for ops in all_levels() {
            let mut got = xs.clone();
            ops.gelu(&mut got);
            for (&x, &g) in xs.iter().zip(&got) {
                let want = 0.5 * x as f64 * (1.0 + erf(x as f64 / 2f64.sqrt()));
                assert!(
                    (g as f64 - want).abs() < 1e-6,
                    "{ops:?} gelu({x}) = {g}, want {want}"
                );
            }
            // Far out the tails: x itself, and a tiny negative number (not a cancelled zero).
            let mut tails = [-10.0, 10.0];
            ops.gelu(&mut tails);
            assert!(tails[0] < 0.0 && tails[0] > -1e-20, "{ops:?} {tails:?}");
            assert_eq!(tails[1], 10.0, "{ops:?}");
        }
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_the_order_on_every_level() {
        let xs: Vec<f32> = (0..37)
            .map(|i| ((i * 7919) % 101) as f32 * 0.37 - 15.0)
            .collect();
        for ops in all_levels() {
            let mut got = xs.clone();
            ops.softmax(&mut got, 0.5);
            let max = xs.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            let total: f64 = xs.iter().map(|&x| ((x - max) as f64 * 0.5).exp()).sum();
            for (&x, &p) in xs.iter().zip(&got) {
                let want = ((x - max) as f64 * 0.5).exp() / total;
                assert!((p as f64 - want).abs() < 1e-6, "{ops:?}: {p} vs {want}");
            }
        }
    }

    #[test]
    fn attention_matches_the_definition_on_every_level() {
        // (head size, positions, query heads per key/value head): across the widened blocks
        // of 64 positions, a head size with a tail for AVX-512, one and several queries.
        for (d, n, groups) in [(64, 1, 1), (64, 2_023, 3), (128, 65, 2), (24, 5, 1)] {
            let queries: Vec<f32> = (0..groups * d).map(|i| (i as f32 * 0.7).sin()).collect();
            let keys: Vec<f16> = (0..n * d)
                .map(|i| f16::from_f32((i as f32 * 0.013).cos() * 2.0))
                .collect();
            let values: Vec<f16> = (0..n * d)
                .map(|i| f16::from_f32((i as f32 * 0.029).sin()))
                .collect();
            let scale = 1.0 / (d as f32).sqrt();
            let mut want = Vec::new();
            for q in queries.chunks_exact(d) {
                let logits: Vec<f64> = keys
                    .chunks_exact(d)
                    .map(|k| {
                        q.iter()
                            .zip(k)
                            .map(|(&a, b)| a as f64 * b.to_f64())
                            .sum::<f64>()
                            * scale as f64
                    })
                    .collect();
                let max = logits.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
                let weights: Vec<f64> = logits.iter().map(|x| (x - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                want.extend((0..d).map(|i| {
                    weights
                        .iter()
                        .zip(values.chunks_exact(d))
                        .map(|(w, v)| w * v[i].to_f64())
                        .sum::<f64>()
                        / total
                }));
            }
            for ops in all_levels() {
                let mut scores = vec![0.0; groups * n];
                let mut out = vec![f32::NAN; groups * d];
                ops.attend(&queries, d, &keys, &values, scale, &mut scores, &mut out);
                for (i, (got, want)) in out.iter().zip(&want).enumerate() {
                    assert!(
                        (*got as f64 - want).abs() < 1e-5,
                        "{ops:?} d {d} n {n} groups {groups} [{i}]: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn add_layer_norm_matches_the_definition_on_every_level() {
        let row: Vec<f32> = (0..389).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let residual: Vec<f32> = (0..389).map(|i| (i as f32 * 0.11).cos()).collect();
        let gamma: Vec<f32> = (0..389).map(|i| 1.0 + i as f32 / 389.0).collect();
        let beta: Vec<f32> = (0..389).map(|i| i as f32 / 1000.0).collect();
        let sum: Vec<f64> = row
            .iter()
            .zip(&residual)
            .map(|(a, b)| (a + b) as f64)
            .collect();
        let mean = sum.iter().sum::<f64>() / 389.0;
        let var = sum.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 389.0;
        for ops in all_levels() {
            let mut got = row.clone();
            ops.add_layer_norm(&mut got, &residual, &gamma, &beta, 1e-12);
            for i in 0..389 {
                let want = (sum[i] - mean) / var.sqrt() * gamma[i] as f64 + beta[i] as f64;
                assert!((got[i] as f64 - want).abs() < 1e-5, "{ops:?} [{i}]");
            }
        }
    }
}
