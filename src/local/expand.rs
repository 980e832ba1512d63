//! A prompt chunk's K-quant weights (Q4_K, Q5_K, Q6_K) expanded to f32 in the (in, out) layout
//! `gemm` reads without packing, split over the model's threads. candle's own `dequantize` runs
//! on one thread and writes (out, in), which `gemm` then copies into panels again. Measured on a
//! 24-token follow-up in a 2,000-token conversation (docs/PERFORMANCE.md, issue 20): Q4_K_M
//! 555 → 442 ms. The simple formats (Q4_0, Q4_1, Q5_x, Q8_0) are expanded by `quant_dot`
//! instead, in the kernels crate without a call per block (Q8_0 through candle's per-block
//! `to_float` here did not move: 367 → 380 ms; inline there: 513 → 344 ms).
//! Each block is expanded by candle's own `to_float`, so the arithmetic is candle's.

use candle_core::quantized::k_quants::{BlockQ4K, BlockQ5K, BlockQ6K, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use rayon::prelude::*;

/// `weight` (rows × width) expanded and transposed to (width × rows) row-major, or None for a
/// format or shape not handled here.
pub fn transposed(weight: &QTensor) -> Option<Vec<f32>> {
    match weight.dtype() {
        GgmlDType::Q4K => by_blocks::<BlockQ4K>(weight),
        GgmlDType::Q5K => by_blocks::<BlockQ5K>(weight),
        GgmlDType::Q6K => by_blocks::<BlockQ6K>(weight),
        _ => None,
    }
}

/// One task per block column: it expands that column's block of every row and writes the
/// column's values as its own run of output rows.
fn by_blocks<T: GgmlType>(weight: &QTensor) -> Option<Vec<f32>> {
    let (rows, width) = weight.shape().dims2().ok()?;
    if !width.is_multiple_of(T::BLCK_SIZE) {
        return None;
    }
    let data = weight.data().ok()?;
    let columns = width / T::BLCK_SIZE;
    // candle keeps the blocks as a typed vector; anything else is not read as blocks.
    if data.len() < rows * columns * std::mem::size_of::<T>()
        || !(data.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>())
    {
        return None;
    }
    // SAFETY: the bytes are candle's own `Vec<T>` storage (aligned for `T`, checked above) and
    // hold at least rows × columns blocks; every bit pattern of these plain-data blocks is a
    // value candle itself reads.
    let blocks: &[T] = unsafe { std::slice::from_raw_parts(data.as_ptr().cast(), rows * columns) };
    let mut out = vec![0f32; rows * width];
    out.par_chunks_mut(T::BLCK_SIZE * rows)
        .enumerate()
        .for_each(|(column, tile)| {
            let mut values = vec![0f32; T::BLCK_SIZE];
            for row in 0..rows {
                let block = &blocks[row * columns + column..row * columns + column + 1];
                T::to_float(block, &mut values);
                for (j, &v) in values.iter().enumerate() {
                    tile[j * rows + row] = v;
                }
            }
        });
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn the_expansion_is_the_transpose_of_candles_for_each_format() {
        let (rows, width) = (40, 512);
        let values: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        let dense = Tensor::from_vec(values, (rows, width), &Device::Cpu).unwrap();
        for dtype in [GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K] {
            let w = QTensor::quantize(&dense, dtype).unwrap();
            let ours = transposed(&w).unwrap();
            let theirs: Vec<f32> = w
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            for r in 0..rows {
                for c in 0..width {
                    assert_eq!(
                        ours[c * rows + r],
                        theirs[r * width + c],
                        "{dtype:?} [{r}, {c}]"
                    );
                }
            }
        }
        for dtype in [GgmlDType::F32, GgmlDType::Q8_0] {
            let other = QTensor::quantize(&dense, dtype).unwrap();
            assert!(transposed(&other).is_none(), "{dtype:?}");
        }
    }
}
