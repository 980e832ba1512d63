//! Dot products and expansion for the GGUF block formats Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0.
//!
//! The activation row is quantized to 8-bit blocks of 32 (with the block sum the offset
//! formats need), each weight row is dotted with it in AVX2 integer arithmetic (picked at run
//! time; a scalar loop otherwise), and the rows are split over the current rayon pool.

use half::f16;
use rayon::prelude::*;

/// Elements per block, in every format here.
pub const BLOCK: usize = 32;

/// Output rows per parallel task: a task is a few hundred microseconds of work.
const ROWS_PER_TASK: usize = 64;

/// A GGUF block format handled here (ggml's layouts: an f16 scale, for some an f16 offset or
/// fifth bits, then the packed weights).
#[derive(Clone, Copy)]
pub enum Format {
    /// 4-bit weights minus 8, times a scale.
    Q4_0,
    /// 4-bit weights times a scale plus an offset.
    Q4_1,
    /// 5-bit weights minus 16, times a scale.
    Q5_0,
    /// 5-bit weights times a scale plus an offset.
    Q5_1,
    /// 8-bit signed weights times a scale.
    Q8_0,
}

impl Format {
    /// Bytes per block of 32 weights.
    pub fn block_bytes(self) -> usize {
        match self {
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q5_0 => 22,
            Format::Q5_1 => 24,
            Format::Q8_0 => 34,
        }
    }
}

/// A block of the quantized activation.
#[derive(Clone, Copy)]
pub struct Q8 {
    /// Scale.
    pub d: f32,
    /// `d` times the sum of `qs` (the offset formats need it).
    pub s: f32,
    /// The 32 quantized values.
    pub qs: [i8; BLOCK],
}

/// Whether this CPU has what the kernels use: AVX2, FMA and F16C (asked once).
pub fn simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `data` (rows × width weights of `format`, row-major blocks) times `x`, or None when `x` is
/// not `width` long, `width` is not whole blocks or `data` is shorter than the shape says.
pub fn matvec(
    format: Format,
    data: &[u8],
    rows: usize,
    width: usize,
    x: &[f32],
) -> Option<Vec<f32>> {
    let row_bytes = row_bytes(format, data, rows, width)?;
    if x.len() != width {
        return None;
    }
    let y = quantize(x);
    let mut out = vec![0f32; rows];
    out.par_chunks_mut(ROWS_PER_TASK)
        .enumerate()
        .for_each(|(task, chunk)| {
            let first = task * ROWS_PER_TASK;
            let bytes = &data[first * row_bytes..(first + chunk.len()) * row_bytes];
            for (value, row) in chunk.iter_mut().zip(bytes.chunks_exact(row_bytes)) {
                *value = dot(format, row, &y);
            }
        });
    Some(out)
}

/// The same weights expanded to f32 and transposed: (width × rows) row-major, the layout in
/// which `gemm` reads a right-hand matrix without packing it. One task per block column, so
/// each writes its own 32 output rows. None on the shape checks of [`matvec`].
pub fn dequantize_transposed(
    format: Format,
    data: &[u8],
    rows: usize,
    width: usize,
) -> Option<Vec<f32>> {
    let row_bytes = row_bytes(format, data, rows, width)?;
    let size = format.block_bytes();
    let mut out = vec![0f32; rows * width];
    out.par_chunks_mut(BLOCK * rows)
        .enumerate()
        .for_each(|(column, tile)| {
            let at = column * size;
            for (row, bytes) in data.chunks_exact(row_bytes).take(rows).enumerate() {
                let block = &bytes[at..at + size];
                let d = half_at(block, 0);
                let m = match format {
                    Format::Q4_0 | Format::Q5_0 | Format::Q8_0 => 0.0,
                    Format::Q4_1 | Format::Q5_1 => half_at(block, 2),
                };
                for (j, q) in unpack(format, block).into_iter().enumerate() {
                    tile[j * rows + row] = q as f32 * d + m;
                }
            }
        });
    Some(out)
}

/// Bytes per weight row, when `width` is whole blocks and `data` holds `rows` rows.
fn row_bytes(format: Format, data: &[u8], rows: usize, width: usize) -> Option<usize> {
    if width == 0 || !width.is_multiple_of(BLOCK) {
        return None;
    }
    let row_bytes = width / BLOCK * format.block_bytes();
    (data.len() >= rows * row_bytes).then_some(row_bytes)
}

/// The activation as 8-bit blocks: each block's largest magnitude maps to 127.
pub fn quantize(x: &[f32]) -> Vec<Q8> {
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

/// The dot product of one weight row (whole blocks of `format`) with `y`: AVX2 where
/// [`simd`] holds, else the scalar loop.
pub fn dot(format: Format, row: &[u8], y: &[Q8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: `simd()` saw AVX2, FMA and F16C on this CPU.
        return unsafe { avx2::dot(format, row, y) };
    }
    scalar_dot(format, row, y)
}

/// The 32 weights of one block as integers (before scale and offset), in element order.
fn unpack(format: Format, block: &[u8]) -> [i32; BLOCK] {
    let mut out = [0i32; BLOCK];
    let (qh, qs) = match format {
        Format::Q8_0 => {
            for (o, &q) in out.iter_mut().zip(&block[2..2 + BLOCK]) {
                *o = i32::from(q as i8);
            }
            return out;
        }
        Format::Q4_0 => (0u32, &block[2..18]),
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
    for j in 0..BLOCK / 2 {
        let high = |bit: usize| i32::from((qh >> bit) & 1 == 1) << 4;
        out[j] = i32::from(qs[j] & 0x0F);
        out[j + BLOCK / 2] = i32::from(qs[j] >> 4);
        if matches!(format, Format::Q5_0 | Format::Q5_1) {
            out[j] |= high(j);
            out[j + BLOCK / 2] |= high(j + BLOCK / 2);
        }
        let zero = match format {
            Format::Q4_0 => 8,
            Format::Q5_0 => 16,
            _ => 0,
        };
        out[j] -= zero;
        out[j + BLOCK / 2] -= zero;
    }
    out
}

/// The same dot product without SIMD: the reference the tests hold the AVX2 one to, and the
/// kernel on CPUs without AVX2.
pub fn scalar_dot(format: Format, row: &[u8], y: &[Q8]) -> f32 {
    let size = format.block_bytes();
    row.chunks_exact(size)
        .zip(y)
        .map(|(block, y)| {
            let q = unpack(format, block);
            let sum: i32 = q.iter().zip(&y.qs).map(|(a, b)| a * i32::from(*b)).sum();
            let d = half_at(block, 0);
            match format {
                Format::Q4_0 | Format::Q5_0 | Format::Q8_0 => d * y.d * sum as f32,
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

    /// The same for signed bytes `x`: their sign moves onto `y`, the magnitudes multiply.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn signed_products(x: __m256i, y: __m256i) -> __m256i {
        products(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
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
                    signed_products(_mm256_sub_epi8(x, _mm256_set1_epi8(16)), ys)
                }
                Format::Q4_0 => {
                    let x = unsafe { nibbles(&block[2..18]) };
                    signed_products(_mm256_sub_epi8(x, _mm256_set1_epi8(8)), ys)
                }
                Format::Q8_0 => {
                    // SAFETY: a Q8_0 block is 34 bytes: the scale, then 32 weights.
                    let x = unsafe { _mm256_loadu_si256(block[2..34].as_ptr().cast()) };
                    signed_products(x, ys)
                }
            };
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
        }
        sum_lanes(acc) + offsets
    }
}
