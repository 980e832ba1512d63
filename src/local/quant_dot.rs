//! One token's matrix-vector product, and a prompt chunk's weight expansion, for the GGUF
//! block formats Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0, with the kernels of `rustbot-kernels`
//! (crates/kernels: AVX2 picked at run time, built at opt-level 3).
//!
//! Why: candle 0.11 multiplies Q4_1, Q5_0 and Q5_1 without SIMD on x86-64. Measured on
//! SmolLM2-135M (docs/PERFORMANCE.md, issue 20): decoding a Q4_1 file ran at 23 tokens/s against
//! llama.cpp's 47, and a Q4_K_M file, whose 576-wide matrices fall back to Q5_0, at 15 against
//! 48. For Q4_0 and Q8_0 candle's own AVX2 dot products stay (measured faster than ours: Q8_0
//! 46 against 34 tokens/s), but their expansion for a prompt chunk is ours.
//!
//! `dequantize_transposed` writes the (in, out) layout `gemm` reads without packing, split over
//! the model's threads (candle's own expansion runs on one thread, in the layout `gemm` packs
//! again on every call).

use candle_core::quantized::{GgmlDType, QTensor};
use rustbot_kernels::quant::{self, Format};

/// A weight matrix in a format handled here, as its raw blocks.
struct Blocks<'a> {
    format: Format,
    rows: usize,
    width: usize,
    data: std::borrow::Cow<'a, [u8]>,
}

impl<'a> Blocks<'a> {
    /// The blocks of `weight`, or None for another format (the kernels check the sizes).
    fn of(weight: &'a QTensor) -> Option<Self> {
        let format = match weight.dtype() {
            GgmlDType::Q4_0 => Format::Q4_0,
            GgmlDType::Q4_1 => Format::Q4_1,
            GgmlDType::Q5_0 => Format::Q5_0,
            GgmlDType::Q5_1 => Format::Q5_1,
            GgmlDType::Q8_0 => Format::Q8_0,
            _ => return None,
        };
        let (rows, width) = weight.shape().dims2().ok()?;
        Some(Blocks {
            format,
            rows,
            width,
            data: weight.data().ok()?,
        })
    }
}

/// Whether `matvec` multiplies this format: candle's own SIMD kernels for Q4_0 and Q8_0 were
/// measured faster.
fn own_matvec(format: Format) -> bool {
    !matches!(format, Format::Q4_0 | Format::Q8_0)
}

/// `weight` (rows × `x.len()`) times `x`, or None when this module does not handle the
/// weight's format or this CPU (candle's kernels run then).
pub fn matvec(weight: &QTensor, x: &[f32]) -> Option<Vec<f32>> {
    let b = Blocks::of(weight)?;
    if !quant::simd() || !own_matvec(b.format) {
        return None;
    }
    quant::matvec(b.format, &b.data, b.rows, b.width, x)
}

/// `weight` expanded to f32 and transposed: (width × rows) row-major, the layout in which
/// `gemm` reads a right-hand matrix without packing it (in the (rows × width) layout it copied
/// the whole matrix into panels on every call: 15 % of a follow-up question). None for the
/// formats not handled here.
pub fn dequantize_transposed(weight: &QTensor) -> Option<Vec<f32>> {
    let b = Blocks::of(weight)?;
    quant::dequantize_transposed(b.format, &b.data, b.rows, b.width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module, Tensor};
    use rustbot_kernels::quant::{BLOCK, dot, quantize, scalar_dot, simd};

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

    const ALL: [GgmlDType; 5] = [
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
    ];

    #[test]
    fn each_format_agrees_with_the_scalar_reference_and_with_candle() {
        let (rows, width) = (70, 576);
        let x = activation(width);
        for dtype in ALL {
            let w = weights(dtype, rows, width);
            let format = Blocks::of(&w).unwrap().format;
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
            if simd() && own_matvec(format) {
                let fast = matvec(&w, &x).unwrap();
                assert_eq!(fast.len(), rows);
            }
        }
    }

    #[test]
    fn the_transposed_expansion_is_the_transpose_of_candles() {
        for dtype in ALL {
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
        assert!(dequantize_transposed(&weights(GgmlDType::Q4K, 2, 256)).is_none());
    }

    #[test]
    fn other_formats_and_shapes_are_left_to_candle() {
        let w = weights(GgmlDType::Q4K, 4, 256);
        assert!(matvec(&w, &activation(256)).is_none());
        let w = weights(GgmlDType::Q4_1, 4, 64);
        assert!(matvec(&w, &activation(32)).is_none());
    }
}
