//! Matrix products on the CPU straight into `f32` buffers, for the model's own CPU operations
//! (`linear.rs`, `cpu_attention.rs`).
//!
//! A [`Matrix`] is a strided 2-D view of a slice, so that transposes and the heads inside a
//! fused q/k/v tensor are read in place; [`multiply_into`] and [`product`] hand them to
//! `gemm`, the crate under Burn's own CPU matrix products, without the zero-fill and copy
//! Burn's CPU backend makes for each product's output (`linear.rs` says where that is).

use std::mem::MaybeUninit;

use burn::backend::flex::FlexTensor;

/// Whether `device` (plain or autodiff) is the CPU backend, whose operations run on this
/// process's threads rather than on an accelerator's queue: where the model's own CPU
/// operations apply.
pub fn is_cpu(device: &burn::tensor::Device) -> bool {
    device.clone().inner() == burn::tensor::Device::flex()
}

/// A strided 2-D view of `f32`s: element `(i, j)` is `data[i · row_stride + j · col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Matrix<'a> {
    /// `rows × cols` elements from the start of `data`, rows `row_stride` apart, each row's
    /// elements next to each other.
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        Self::strided(data, [rows, cols], [row_stride, 1])
    }

    /// The view of a rank-2 f32 tensor, in place. Tensors with flipped axes (negative strides)
    /// are not made by any caller.
    pub(crate) fn of(t: &'a FlexTensor) -> Self {
        let layout = t.layout();
        let (rows, cols, row_stride, col_stride) = layout.as_2d_strides().expect("a rank-2 tensor");
        let stride = |s: isize| usize::try_from(s).expect("a tensor without flipped axes");
        Self::strided(
            &t.storage::<f32>()[layout.start_offset()..],
            [rows, cols],
            [stride(row_stride), stride(col_stride)],
        )
    }

    fn strided(data: &'a [f32], [rows, cols]: [usize; 2], [rs, cs]: [usize; 2]) -> Self {
        let last = (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs;
        assert!(
            rows * cols == 0 || last < data.len(),
            "a {rows}×{cols} view with strides ({rs}, {cs}) overruns its {} elements",
            data.len()
        );
        Matrix {
            data,
            rows,
            cols,
            row_stride: rs,
            col_stride: cs,
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    pub(crate) fn transposed(self) -> Self {
        Matrix {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// Matrix products at least this large (m·n·k) are split over the threads: Burn's own
/// threshold, so that the threads share work as they do under `float_matmul`.
const PARALLEL_FROM: usize = 192 * 192 * 192;

/// `dst ← scale · lhs · rhs`, or `dst ← dst + scale · lhs · rhs` with `accumulate`, where
/// `dst`'s rows start `dst_stride` elements apart.
pub(crate) fn multiply_into(
    dst: &mut [f32],
    dst_stride: usize,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
    accumulate: bool,
) {
    // SAFETY: an f32 slice is a valid MaybeUninit<f32> slice, and gemm only writes f32s to it.
    let dst = unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) };
    gemm_into(dst, dst_stride, lhs, rhs, scale, accumulate);
}

/// `lhs · rhs` as a new row-major vector.
pub(crate) fn product(lhs: Matrix, rhs: Matrix) -> Vec<f32> {
    let len = lhs.rows * rhs.cols;
    let mut out = Vec::with_capacity(len);
    gemm_into(
        &mut out.spare_capacity_mut()[..len],
        rhs.cols,
        lhs,
        rhs,
        1.0,
        false,
    );
    // SAFETY: gemm wrote all `len` elements (it reads none without `accumulate`).
    unsafe { out.set_len(len) };
    out
}

/// The one `gemm` call: `dst ← (dst +) scale · lhs · rhs`, `dst` read only with
/// `accumulate` (it is then initialised, see `multiply_into`).
fn gemm_into(
    dst: &mut [MaybeUninit<f32>],
    dst_stride: usize,
    lhs: Matrix,
    rhs: Matrix,
    scale: f32,
    accumulate: bool,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "inner dimensions of a matrix product");
    assert!(
        m * n == 0 || (m - 1) * dst_stride + n <= dst.len(),
        "a {m}×{n} product overruns its destination"
    );
    let parallelism = match m * n * k >= PARALLEL_FROM {
        true => gemm::Parallelism::Rayon(0),
        false => gemm::Parallelism::None,
    };
    let signed = |s: usize| s as isize;
    // SAFETY: the views stay inside their slices (`Matrix::strided`), the destination's m
    // rows of n elements inside `dst` (asserted above).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().cast::<f32>(),
            1,
            signed(dst_stride),
            accumulate,
            lhs.data.as_ptr(),
            signed(lhs.col_stride),
            signed(lhs.row_stride),
            rhs.data.as_ptr(),
            signed(rhs.col_stride),
            signed(rhs.row_stride),
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a · b` by the definition, for row-major `a` (m × k) and `b` (k × n).
    fn naive(a: &[f32], b: &[f32], [m, k, n]: [usize; 3]) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn products_of_views_match_the_definition() {
        let a: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect(); // 3 × 4
        let b: Vec<f32> = (0..8).map(|i| 1.0 - i as f32 * 0.25).collect(); // 4 × 2
        let want = naive(&a, &b, [3, 4, 2]);
        assert_eq!(
            product(Matrix::new(&a, 3, 4, 4), Matrix::new(&b, 4, 2, 2)),
            want
        );

        // bᵀ stored row-major (2 × 4), read back through its transpose.
        let bt: Vec<f32> = (0..8).map(|i| b[(i % 4) * 2 + i / 4]).collect();
        let got = product(
            Matrix::new(&a, 3, 4, 4),
            Matrix::new(&bt, 2, 4, 4).transposed(),
        );
        assert_eq!(got, want);

        // Into every other column of a wider buffer, scaled and added to what is there.
        let mut dst = [1.0; 3 * 5];
        multiply_into(
            &mut dst[1..],
            5,
            Matrix::new(&a, 3, 4, 4),
            Matrix::new(&b, 4, 2, 2),
            0.5,
            true,
        );
        for i in 0..3 {
            assert_eq!(dst[i * 5], 1.0, "untouched column");
            for j in 0..2 {
                assert_eq!(dst[i * 5 + 1 + j], 1.0 + 0.5 * want[i * 2 + j]);
            }
        }
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn a_view_past_its_slice_is_refused() {
        Matrix::new(&[0.0; 5], 2, 3, 3);
    }
}
