//! One token's matrix-vector product for the GGUF block formats candle 0.11 multiplies without
//! SIMD on x86-64: Q4_1, Q5_0 and Q5_1 (its Q4_0, Q8_0 and K-quant dot products pick AVX2 at
//! run time; these three do not). Measured on SmolLM2-135M (docs/PERFORMANCE.md, issue 20):
//! decoding a Q4_1 file ran at 23 tokens/s against llama.cpp's 47, and a Q4_K_M file, whose
//! 576-wide matrices fall back to Q5_0, at 15 against 48.
//!
//! `dequantize_transposed` expands the same formats to f32 for a prompt chunk's GEMM, in the
//! (in, out) layout `gemm` reads without packing, split over the model's threads (candle's own
//! expansion runs on one thread, in the layout `gemm` packs again on every call).
//!
//! The activation row is quantized to 8-bit blocks of 32 (Q8_0, or Q8_1 with its block sum for
//! the formats with an offset), each weight row is dotted with it in AVX2 integer arithmetic,
//! and the rows are split over the model's threads. Without AVX2 and FMA, or for any other
//! format, `matvec` returns None and candle's own kernels run.

use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;
use rayon::prelude::*;

/// Elements per block, in every format here.
const BLOCK: usize = 32;

/// Output rows per parallel task: a task is a few hundred microseconds of work.
const ROWS_PER_TASK: usize = 64;

/// A block of the quantized activation.
#[derive(Clone, Copy)]
struct Q8 {
    /// Scale.
    d: f32,
    /// `d` times the sum of `qs` (the offset formats need it).
    s: f32,
    qs: [i8; BLOCK],
}

/// A weight format handled here: its block size in bytes and its dot product.
#[derive(Clone, Copy)]
enum Format {
    Q4_1,
    Q5_0,
    Q5_1,
}

impl Format {
    fn of(dtype: GgmlDType) -> Option<Self> {
        match dtype {
            GgmlDType::Q4_1 => Some(Format::Q4_1),
            GgmlDType::Q5_0 => Some(Format::Q5_0),
            GgmlDType::Q5_1 => Some(Format::Q5_1),
            _ => None,
        }
    }

    fn block_bytes(self) -> usize {
        match self {
            Format::Q4_1 => 20,
            Format::Q5_0 => 22,
            Format::Q5_1 => 24,
        }
    }
}

/// A weight matrix in a format handled here, as its raw blocks.
struct Blocks<'a> {
    format: Format,
    rows: usize,
    width: usize,
    data: std::borrow::Cow<'a, [u8]>,
    row_bytes: usize,
}

impl<'a> Blocks<'a> {
    /// The blocks of `weight`, or None for another format, a width that is not whole blocks,
    /// or fewer bytes than the shape says.
    fn of(weight: &'a QTensor) -> Option<Self> {
        let format = Format::of(weight.dtype())?;
        let (rows, width) = weight.shape().dims2().ok()?;
        if !width.is_multiple_of(BLOCK) {
            return None;
        }
        let data = weight.data().ok()?;
        let row_bytes = width / BLOCK * format.block_bytes();
        (data.len() >= rows * row_bytes).then_some(Blocks {
            format,
            rows,
            width,
            data,
            row_bytes,
        })
    }
}

/// Whether this CPU has what the kernels use: AVX2, FMA and F16C (asked once).
fn simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `weight` (rows × `x.len()`) times `x`, or None when this module does not handle the
/// weight's format or this CPU.
pub fn matvec(weight: &QTensor, x: &[f32]) -> Option<Vec<f32>> {
    if !simd() {
        return None;
    }
    let Blocks {
        format,
        rows,
        width,
        data,
        row_bytes,
    } = Blocks::of(weight)?;
    if width != x.len() {
        return None;
    }
    let y = quantize(x);
    let mut out = vec![0f32; rows];
    out.par_chunks_mut(ROWS_PER_TASK)
        .enumerate()
        .for_each(|(task, chunk)| {
            for (i, value) in chunk.iter_mut().enumerate() {
                let row = task * ROWS_PER_TASK + i;
                let bytes = &data[row * row_bytes..(row + 1) * row_bytes];
                *value = dot(format, bytes, &y);
            }
        });
    Some(out)
}

/// `weight` expanded to f32 and transposed: (width × rows) row-major, the layout in which
/// `gemm` reads a right-hand matrix without packing it (in the (rows × width) layout it copied
/// the whole matrix into panels on every call: 15 % of a follow-up question). One task per
/// block column, so each writes its own 32 output rows. None for the formats not handled here.
pub fn dequantize_transposed(weight: &QTensor) -> Option<Vec<f32>> {
    let Blocks {
        format,
        rows,
        width,
        data,
        row_bytes,
    } = Blocks::of(weight)?;
    let mut out = vec![0f32; rows * width];
    out.par_chunks_mut(BLOCK * rows)
        .enumerate()
        .for_each(|(column, tile)| {
            let at = column * format.block_bytes();
            for row in 0..rows {
                let block =
                    &data[row * row_bytes + at..row * row_bytes + at + format.block_bytes()];
                let d = half_at(block, 0);
                let m = match format {
                    Format::Q5_0 => 0.0,
                    Format::Q4_1 | Format::Q5_1 => half_at(block, 2),
                };
                for (j, q) in unpack(format, block).into_iter().enumerate() {
                    tile[j * rows + row] = q as f32 * d + m;
                }
            }
        });
    Some(out)
}

/// The activation as 8-bit blocks: each block's largest magnitude maps to 127.
fn quantize(x: &[f32]) -> Vec<Q8> {
    x.chunks_exact(BLOCK)
        .map(|block| {
            let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inverse = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut qs = [0i8; BLOCK];
            let mut sum = 0i32;
            for (q, v) in qs.iter_mut().zip(block) {
                *q = (v * inverse).round() as i8;
                sum += i32::from(*q);
            }
            Q8 {
                d,
                s: d * sum as f32,
                qs,
            }
        })
        .collect()
}

fn half_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

fn dot(format: Format, row: &[u8], y: &[Q8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `matvec` only gets here when `simd()` saw AVX2, FMA and F16C on this CPU.
        unsafe { avx2::dot(format, row, y) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        scalar_dot(format, row, y)
    }
}

/// The 32 weights of one block as integers (before scale and offset), in element order.
fn unpack(format: Format, block: &[u8]) -> [i32; BLOCK] {
    let (qh, qs) = match format {
        Format::Q4_1 => (0u32, &block[4..20]),
        Format::Q5_0 => (
            u32::from_le_bytes([block[2], block[3], block[4], block[5]]),
            &block[6..22],
        ),
        Format::Q5_1 => (
            u32::from_le_bytes([block[4], block[5], block[6], block[7]]),
            &block[8..24],
        ),
    };
    let mut out = [0i32; BLOCK];
    for j in 0..BLOCK / 2 {
        let high = |bit: usize| i32::from((qh >> bit) & 1 == 1) << 4;
        out[j] = i32::from(qs[j] & 0x0F);
        out[j + BLOCK / 2] = i32::from(qs[j] >> 4);
        if !matches!(format, Format::Q4_1) {
            out[j] |= high(j);
            out[j + BLOCK / 2] |= high(j + BLOCK / 2);
        }
        if matches!(format, Format::Q5_0) {
            out[j] -= 16;
            out[j + BLOCK / 2] -= 16;
        }
    }
    out
}

/// The same dot product without SIMD: the reference the tests hold the AVX2 one to.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn scalar_dot(format: Format, row: &[u8], y: &[Q8]) -> f32 {
    let size = format.block_bytes();
    row.chunks_exact(size)
        .zip(y)
        .map(|(block, y)| {
            let q = unpack(format, block);
            let sum: i32 = q.iter().zip(&y.qs).map(|(a, b)| a * i32::from(*b)).sum();
            let d = half_at(block, 0);
            match format {
                Format::Q5_0 => d * y.d * sum as f32,
                Format::Q4_1 | Format::Q5_1 => d * y.d * sum as f32 + half_at(block, 2) * y.s,
            }
        })
        .sum()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Format, Q8};

    /// The f16 at `at` (little-endian), converted by the CPU (F16C) instead of in software.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn half_at(bytes: &[u8], at: usize) -> f32 {
        let bits = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
    }

    /// 32 nibbles of `qs` as bytes: the low nibbles (elements 0–15), then the high ones.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn nibbles(qs: &[u8]) -> __m256i {
        // SAFETY: `qs` holds 16 bytes (the callers slice them out of a whole block).
        let packed = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
        let low = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
        let high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
        _mm256_set_m128i(high, low)
    }

    /// 0x10 in byte `i` where bit `i` of `qh` is set: the fifth bit of each Q5 weight.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn fifth_bits(qh: u32) -> __m256i {
        // Byte i takes byte i/8 of qh; then only bit i%8 is tested.
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(qh as i32),
            _mm256_set_epi64x(
                0x0303_0303_0303_0303,
                0x0202_0202_0202_0202,
                0x0101_0101_0101_0101,
                0,
            ),
        );
        let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
        _mm256_and_si256(set, _mm256_set1_epi8(0x10))
    }

    /// Sum of the products of unsigned bytes `x` and signed bytes `y`, as 8 i32 lanes.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn products(x: __m256i, y: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    fn sum_lanes(v: __m256) -> f32 {
        let pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let pair = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
        let one = _mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1));
        _mm_cvtss_f32(one)
    }

    /// The dot product of one weight row (whole blocks of `format`) with `y`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot(format: Format, row: &[u8], y: &[Q8]) -> f32 {
        let size = format.block_bytes();
        let mut acc = _mm256_setzero_ps();
        let mut offsets = 0f32;
        for (block, y) in row.chunks_exact(size).zip(y) {
            // SAFETY: `y.qs` is 32 bytes; each block slice is `size` bytes long.
            let ys = unsafe { _mm256_loadu_si256(y.qs.as_ptr().cast()) };
            let d = half_at(block, 0) * y.d;
            let sum = match format {
                Format::Q4_1 => {
                    offsets += half_at(block, 2) * y.s;
                    products(unsafe { nibbles(&block[4..20]) }, ys)
                }
                Format::Q5_1 => {
                    offsets += half_at(block, 2) * y.s;
                    let qh = u32::from_le_bytes([block[4], block[5], block[6], block[7]]);
                    let x = _mm256_or_si256(unsafe { nibbles(&block[8..24]) }, fifth_bits(qh));
                    products(x, ys)
                }
                Format::Q5_0 => {
                    let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                    let x = _mm256_or_si256(unsafe { nibbles(&block[6..22]) }, fifth_bits(qh));
                    // Signed weights (x - 16): move their sign onto y, multiply magnitudes.
                    let x = _mm256_sub_epi8(x, _mm256_set1_epi8(16));
                    products(_mm256_sign_epi8(x, x), _mm256_sign_epi8(ys, x))
                }
            };
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
        }
        sum_lanes(acc) + offsets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module, Tensor};

    /// A weight matrix with every sign, size and fifth-bit pattern, quantized by candle.
    fn weights(dtype: GgmlDType, rows: usize, width: usize) -> QTensor {
        let values: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i % 13) as f32))
            .collect();
        let t = Tensor::from_vec(values, (rows, width), &Device::Cpu).unwrap();
        QTensor::quantize(&t, dtype).unwrap()
    }

    fn activation(width: usize) -> Vec<f32> {
        (0..width)
            .map(|i| ((i * 104_729 % 997) as f32 / 498.0 - 1.0) * 3.0)
            .collect()
    }

    #[test]
    fn each_format_agrees_with_the_scalar_reference_and_with_candle() {
        let (rows, width) = (70, 576);
        let x = activation(width);
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1] {
            let w = weights(dtype, rows, width);
            let format = Format::of(dtype).unwrap();
            let data = w.data().unwrap();
            let y = quantize(&x);
            let row_bytes = width / BLOCK * format.block_bytes();
            // The SIMD kernel against the scalar one, row by row (where the CPU has AVX2).
            if simd() {
                for r in 0..rows {
                    let row = &data[r * row_bytes..(r + 1) * row_bytes];
                    let (fast, slow) = (dot(format, row, &y), scalar_dot(format, row, &y));
                    assert!(
                        (fast - slow).abs() <= 1e-3 * slow.abs().max(1.0),
                        "{dtype:?} row {r}: {fast} vs {slow}"
                    );
                }
            }
            // The whole product against candle's own quantized matmul.
            let ours: Vec<f32> = (0..rows)
                .map(|r| scalar_dot(format, &data[r * row_bytes..(r + 1) * row_bytes], &y))
                .collect();
            let xt = Tensor::from_vec(x.clone(), (1, width), &Device::Cpu).unwrap();
            let theirs: Vec<f32> =
                candle_core::quantized::QMatMul::from_qtensor(weights(dtype, rows, width))
                    .unwrap()
                    .forward(&xt)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
            let spread = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (r, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert!(
                    (a - b).abs() <= 0.01 * spread,
                    "{dtype:?} row {r}: ours {a}, candle {b}"
                );
            }
            if simd() {
                let fast = matvec(&w, &x).unwrap();
                assert_eq!(fast.len(), rows);
            }
        }
    }

    #[test]
    fn the_transposed_expansion_is_the_transpose_of_candles() {
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1] {
            let (rows, width) = (150, 96);
            let w = weights(dtype, rows, width);
            let ours = dequantize_transposed(&w).unwrap();
            let theirs: Vec<f32> = w
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(ours.len(), theirs.len());
            for r in 0..rows {
                for c in 0..width {
                    let (a, b) = (ours[c * rows + r], theirs[r * width + c]);
                    assert!(
                        (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                        "{dtype:?} [{r}, {c}]: {a} vs {b}"
                    );
                }
            }
        }
        assert!(dequantize_transposed(&weights(GgmlDType::Q8_0, 2, 64)).is_none());
    }

    #[test]
    fn other_formats_and_shapes_are_left_to_candle() {
        let w = weights(GgmlDType::Q8_0, 4, 64);
        assert!(matvec(&w, &activation(64)).is_none());
        let w = weights(GgmlDType::Q4_1, 4, 64);
        assert!(matvec(&w, &activation(32)).is_none());
    }
}
