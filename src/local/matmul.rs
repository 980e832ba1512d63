//! Row-major f32 matrix products through `gemm`, shared by the llama runner's prompt chunks and
//! the BERT encoder. Both keep weights as (in, out) so `gemm` reads them in place without
//! repacking them per call (the layout's measured reason is in bert.rs).

/// The slices are too short for the sizes asked.
#[derive(Debug, thiserror::Error)]
#[error("matmul of {rows} × {k} by {k} × {n} given {x} and {w} values and room for {out}")]
pub struct ShapeError {
    rows: usize,
    k: usize,
    n: usize,
    x: usize,
    w: usize,
    out: usize,
}

/// `out (rows × n) = x (rows × k) · w (k × n)`, added to what `out` holds when `accumulate`
/// (a bias written there first), in one `gemm` call over the current rayon pool.
pub fn matmul_into(
    x: &[f32],
    rows: usize,
    k: usize,
    w: &[f32],
    n: usize,
    out: &mut [f32],
    accumulate: bool,
) -> Result<(), ShapeError> {
    if x.len() < rows * k || w.len() < k * n || out.len() < rows * n {
        return Err(ShapeError {
            rows,
            k,
            n,
            x: x.len(),
            w: w.len(),
            out: out.len(),
        });
    }
    // SAFETY: `x` holds rows × k values, `w` k × n and `out` rows × n (checked above); the
    // strides describe exactly those row-major layouts.
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            1,
            n as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_matches_the_plain_loop_with_and_without_accumulating() {
        let (rows, k, n) = (5, 7, 3);
        let x: Vec<f32> = (0..rows * k).map(|i| (i % 5) as f32 - 2.0).collect();
        let w: Vec<f32> = (0..k * n).map(|i| (i % 3) as f32 * 0.5).collect();
        let mut expected = vec![0f32; rows * n];
        for r in 0..rows {
            for c in 0..n {
                expected[r * n + c] = (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum();
            }
        }
        let mut out = vec![9.0; rows * n];
        matmul_into(&x, rows, k, &w, n, &mut out, false).unwrap();
        assert_eq!(out, expected);
        let mut biased = vec![1.0; rows * n];
        matmul_into(&x, rows, k, &w, n, &mut biased, true).unwrap();
        let plus_one: Vec<f32> = expected.iter().map(|v| v + 1.0).collect();
        assert_eq!(biased, plus_one);
        assert!(matmul_into(&x, rows + 1, k, &w, n, &mut out, false).is_err());
    }
}
