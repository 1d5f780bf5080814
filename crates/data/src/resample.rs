//! Pillow's resampler (`libImaging/Resample.c` and, for NEAREST, `Geometry.c`), written out
//! bit for bit: a bicubic kernel with a = -0.5 whose support widens with the downscale factor
//! (antialiasing); for 8-bit channels 22-bit fixed-point weights and rounding to bytes
//! between the two passes, premultiplied alpha for RGBA / LA images; 16-bit arithmetic for
//! `I;16`; NEAREST for palette images. `crate::picture` picks the one a mode gets, as Pillow
//! does.

/// Fixed-point precision of the weights: 32 bits minus 8 for the pixel and 2
/// guard bits.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's bicubic kernel, a = -0.5, support 2.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output position: first input index and weights (`f64`, or fixed-point `i32`).
struct Coeffs<W> {
    start: Vec<usize>,
    weights: Vec<Vec<W>>,
}

/// Pillow's `precompute_coeffs` for mapping `in_size` samples onto `out_size`: the kernel is
/// stretched by the downscale factor so every input sample contributes (antialiasing);
/// weights normalised to sum to one.
fn float_coeffs(in_size: u32, out_size: u32) -> Coeffs<f64> {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let mut start = Vec::with_capacity(out_size as usize);
    let mut weights = Vec::with_capacity(out_size as usize);
    for xx in 0..out_size {
        let center = (f64::from(xx) + 0.5) * scale;
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size));
        let raw: Vec<f64> = (xmin..xmax)
            .map(|x| bicubic((x as f64 - center + 0.5) / filterscale))
            .collect();
        let total: f64 = raw.iter().sum();
        let normalised = raw
            .iter()
            .map(|&w| if total != 0.0 { w / total } else { w })
            .collect();
        start.push(xmin as usize);
        weights.push(normalised);
    }
    Coeffs { start, weights }
}

/// [`float_coeffs`] as Pillow's `normalize_coeffs_8bpc` makes them fixed-point for 8-bit
/// channels.
fn precompute_coeffs(in_size: u32, out_size: u32) -> Coeffs<i32> {
    let Coeffs { start, weights } = float_coeffs(in_size, out_size);
    let fixed = |w: f64| {
        let scaled = w * f64::from(1u32 << PRECISION_BITS);
        if w < 0.0 {
            (scaled - 0.5) as i32
        } else {
            (scaled + 0.5) as i32
        }
    };
    let weights = weights
        .into_iter()
        .map(|k| k.into_iter().map(fixed).collect())
        .collect();
    Coeffs { start, weights }
}

/// Whether Pillow 13 resamples vertically first: when the height shrinks by more than twice
/// as many pixels as the width (Pillow PR #9549). The order changes the rounding.
fn vertical_first(w: u32, h: u32, out_w: u32, out_h: u32) -> bool {
    out_h < h && i64::from(h) - i64::from(out_h) > 2 * (i64::from(w) - i64::from(out_w))
}

/// Rounds a fixed-point accumulator (already offset by one half) to a byte.
///
/// Accumulators are `i32`, as Pillow's are: the weights of one output sample sum to
/// 2^22 and the negative lobes of the bicubic kernel are small, so a sum of bytes times
/// weights stays far inside `i32` (at most about 1.2 · 2^30 at any point of the sum), and
/// integer sums are the same in any order.
#[inline(always)]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes interleaved 8-bit pixels (`channels` per pixel) from `w`×`h` to
/// `out_w`×`out_h` in two passes, rounding to bytes in between. A dimension
/// that keeps its size is not resampled (Pillow skips that pass). The horizontal
/// pass goes first (over just the rows the vertical pass reads) unless
/// [`vertical_first`].
///
/// The passes' inner loops are 32-bit multiply-adds over runs of bytes, which the compiler
/// vectorises; baseline x86-64 (SSE2) has no 32-bit vector multiply, AVX2 does (8 lanes).
/// So on x86-64 the resampler is compiled a second time for AVX2 and that copy is taken
/// where the CPU has it: same integer arithmetic, same bytes.
pub(crate) fn resize_pixels(
    src: &[u8],
    w: u32,
    h: u32,
    channels: usize,
    out_w: u32,
    out_h: u32,
) -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { resize_pixels_avx2(src, w, h, channels, out_w, out_h) };
    }
    resize_passes(src, w, h, channels, out_w, out_h)
}

/// [`resize_passes`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn resize_pixels_avx2(
    src: &[u8],
    w: u32,
    h: u32,
    channels: usize,
    out_w: u32,
    out_h: u32,
) -> Vec<u8> {
    resize_passes(src, w, h, channels, out_w, out_h)
}

/// The two passes of [`resize_pixels`] in Pillow's order. Everything it calls is inlined,
/// so that the AVX2 copy is AVX2 throughout.
#[inline(always)]
fn resize_passes(src: &[u8], w: u32, h: u32, channels: usize, out_w: u32, out_h: u32) -> Vec<u8> {
    let (need_h, need_v) = (w != out_w, h != out_h);
    let vertical_first = vertical_first(w, h, out_w, out_h);
    let (w, h, out_w, out_h) = (w as usize, h as usize, out_w as usize, out_h as usize);
    match (need_h, need_v) {
        (false, false) => src.to_vec(),
        (true, false) => horizontal_pass(src, w, h, channels, out_w),
        (false, true) => vertical_pass(
            src,
            w * channels,
            &precompute_coeffs(h as u32, out_h as u32),
            0,
        ),
        (true, true) if vertical_first => {
            let tmp = vertical_pass(
                src,
                w * channels,
                &precompute_coeffs(h as u32, out_h as u32),
                0,
            );
            horizontal_pass(&tmp, w, out_h, channels, out_w)
        }
        (true, true) => {
            let vert = precompute_coeffs(h as u32, out_h as u32);
            let first_row = vert.start[0];
            let last_row = vert.start[out_h - 1] + vert.weights[out_h - 1].len();
            let rows = &src[first_row * w * channels..last_row * w * channels];
            let tmp = horizontal_pass(rows, w, last_row - first_row, channels, out_w);
            vertical_pass(&tmp, out_w * channels, &vert, first_row)
        }
    }
}

/// Rows that [`horizontal_pass`] resamples together.
const ROW_BLOCK: usize = 8;

/// Resamples each of `rows` rows of `w` pixels to `out_w` pixels.
///
/// The taps of one output pixel are neighbours in its row, too few and too interleaved
/// (RGB) for SIMD. So [`ROW_BLOCK`] rows at a time are first laid out column by column in a
/// small buffer: input column `x` of the block becomes one contiguous run of
/// `ROW_BLOCK × channels` bytes, and an output pixel of all the block's rows is the weighted
/// sum of its taps' runs, one vector operation per tap as in [`vertical_pass`].
#[inline(always)]
fn horizontal_pass(src: &[u8], w: usize, rows: usize, channels: usize, out_w: usize) -> Vec<u8> {
    let coeffs = precompute_coeffs(w as u32, out_w as u32);
    let half = 1i32 << (PRECISION_BITS - 1);
    let lanes = ROW_BLOCK * channels;
    let mut columns = vec![0u8; w * lanes];
    let mut acc = vec![0i32; lanes];
    let mut out = vec![0u8; rows * out_w * channels];
    for (in_block, out_block) in src
        .chunks(ROW_BLOCK * w * channels)
        .zip(out.chunks_mut(ROW_BLOCK * out_w * channels))
    {
        match channels {
            1 => columns_of_block::<1>(in_block, w, &mut columns),
            2 => columns_of_block::<2>(in_block, w, &mut columns),
            3 => columns_of_block::<3>(in_block, w, &mut columns),
            4 => columns_of_block::<4>(in_block, w, &mut columns),
            _ => unreachable!("8-bit images have 1 to 4 channels"),
        }
        for (x, (&start, k)) in coeffs.start.iter().zip(&coeffs.weights).enumerate() {
            acc.fill(half);
            for (column, &wt) in columns[start * lanes..].chunks_exact(lanes).zip(k) {
                for (a, &v) in acc.iter_mut().zip(column) {
                    *a += i32::from(v) * wt;
                }
            }
            for (out_row, sums) in out_block
                .chunks_exact_mut(out_w * channels)
                .zip(acc.chunks_exact(channels))
            {
                for (o, &a) in out_row[x * channels..(x + 1) * channels]
                    .iter_mut()
                    .zip(sums)
                {
                    *o = clip8(a);
                }
            }
        }
    }
    out
}

/// Lays out a block of up to [`ROW_BLOCK`] rows of `w` pixels of `C` channels column by
/// column: `columns` holds, for each x, row 0's pixel x, row 1's pixel x, … A short last
/// block leaves stale lanes, whose sums are never written out. `C` is a constant so that
/// each pixel is a few plain moves, not a call to `memcpy`.
#[inline(always)]
fn columns_of_block<const C: usize>(block: &[u8], w: usize, columns: &mut [u8]) {
    let lanes = ROW_BLOCK * C;
    for (r, row) in block.chunks_exact(w * C).enumerate() {
        for (column, px) in columns.chunks_exact_mut(lanes).zip(row.chunks_exact(C)) {
            column[r * C..(r + 1) * C].copy_from_slice(px);
        }
    }
}

/// Resamples columns: output row `y` mixes input rows `coeffs.start[y]..`,
/// where `src` begins at input row `first_row`; `stride` bytes per row.
/// Whole rows are scaled and added at a time, which the compiler turns into SIMD.
#[inline(always)]
fn vertical_pass(src: &[u8], stride: usize, coeffs: &Coeffs<i32>, first_row: usize) -> Vec<u8> {
    let half = 1i32 << (PRECISION_BITS - 1);
    let mut out = vec![0u8; coeffs.start.len() * stride];
    let mut acc = vec![0i32; stride];
    for ((out_row, &start), k) in out
        .chunks_exact_mut(stride)
        .zip(&coeffs.start)
        .zip(&coeffs.weights)
    {
        acc.fill(half);
        let rows = src[(start - first_row) * stride..].chunks_exact(stride);
        for (row, &wt) in rows.zip(k) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += i32::from(v) * wt;
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

/// Pillow resizes RGBA and LA images with premultiplied alpha (`RGBa` / `La`)
/// and divides it out again afterwards; the last channel is alpha.
pub(crate) fn resize_premultiplied(
    src: &[u8],
    w: u32,
    h: u32,
    channels: usize,
    out_w: u32,
    out_h: u32,
) -> Vec<u8> {
    if (w, h) == (out_w, out_h) {
        return src.to_vec();
    }
    let mut pre = src.to_vec();
    for px in pre.chunks_exact_mut(channels) {
        let alpha = u32::from(px[channels - 1]);
        for v in &mut px[..channels - 1] {
            let t = u32::from(*v) * alpha + 128;
            *v = (((t >> 8) + t) >> 8) as u8;
        }
    }
    let mut out = resize_pixels(&pre, w, h, channels, out_w, out_h);
    for px in out.chunks_exact_mut(channels) {
        let alpha = u32::from(px[channels - 1]);
        if alpha != 0 && alpha != 255 {
            for v in &mut px[..channels - 1] {
                *v = (255 * u32::from(*v) / alpha).min(255) as u8;
            }
        }
    }
    out
}

/// Pillow's NEAREST resize (`ImagingScaleAffine`, libImaging/Geometry.c), which it uses for
/// palette and bilevel images whatever filter is asked: output x takes input
/// `floor(x0 + scale · (x + ½))`, with the position accumulated step by step in `f64` as
/// Pillow does (the sum's rounding decides ties).
pub(crate) fn resize_nearest(
    src: &[u8],
    w: u32,
    h: u32,
    channels: usize,
    out_w: u32,
    out_h: u32,
) -> Vec<u8> {
    let positions = |from: u32, to: u32| {
        let scale = f64::from(from) / f64::from(to);
        let mut at = scale * 0.5;
        (0..to)
            .map(|_| {
                let index = (at as usize).min(from as usize - 1);
                at += scale;
                index
            })
            .collect::<Vec<usize>>()
    };
    let (xs, ys) = (positions(w, out_w), positions(h, out_h));
    let stride = w as usize * channels;
    let mut out = Vec::with_capacity(out_w as usize * out_h as usize * channels);
    for &y in &ys {
        let row = &src[y * stride..(y + 1) * stride];
        for &x in &xs {
            out.extend_from_slice(&row[x * channels..(x + 1) * channels]);
        }
    }
    out
}

/// Pillow's bicubic resize of 16-bit grey (`I;16`; `ImagingResampleHorizontal_16bpc` and
/// its vertical twin): `f64` weights, each pass rounded half away from zero and clamped to
/// 16 bits, in the same pass order as 8-bit images.
pub(crate) fn resize_i16(src: &[u16], w: u32, h: u32, out_w: u32, out_h: u32) -> Vec<u16> {
    let (horizontal, vertical) = (float_coeffs(w, out_w), float_coeffs(h, out_h));
    let (w, out_w) = (w as usize, out_w as usize);
    match (w != out_w, h != out_h) {
        (false, false) => src.to_vec(),
        (true, false) => horizontal_16(src, w, &horizontal),
        (false, true) => vertical_16(src, w, &vertical),
        (true, true) if vertical_first(w as u32, h, out_w as u32, out_h) => {
            horizontal_16(&vertical_16(src, w, &vertical), w, &horizontal)
        }
        (true, true) => vertical_16(&horizontal_16(src, w, &horizontal), out_w, &vertical),
    }
}

/// Each row of `w` samples resampled.
fn horizontal_16(src: &[u16], w: usize, coeffs: &Coeffs<f64>) -> Vec<u16> {
    src.chunks_exact(w)
        .flat_map(|row| {
            coeffs
                .start
                .iter()
                .zip(&coeffs.weights)
                .map(move |(&start, k)| {
                    round_16(
                        row[start..]
                            .iter()
                            .zip(k)
                            .map(|(&v, &wt)| f64::from(v) * wt)
                            .sum(),
                    )
                })
        })
        .collect()
}

/// Rows of `w` samples mixed into output rows.
fn vertical_16(src: &[u16], w: usize, coeffs: &Coeffs<f64>) -> Vec<u16> {
    let rows: Vec<&[u16]> = src.chunks_exact(w).collect();
    let mut out = Vec::with_capacity(coeffs.start.len() * w);
    for (&start, k) in coeffs.start.iter().zip(&coeffs.weights) {
        out.extend((0..w).map(|x| {
            round_16(
                rows[start..]
                    .iter()
                    .zip(k)
                    .map(|(row, &wt)| f64::from(row[x]) * wt)
                    .sum(),
            )
        }));
    }
    out
}

/// Pillow's `ROUND_UP` of a 16-bit pass's sum, clamped to 16 bits.
fn round_16(sum: f64) -> u16 {
    let rounded = if sum >= 0.0 { sum + 0.5 } else { sum - 0.5 } as i64;
    rounded.clamp(0, 65_535) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Pillow's sums written out one output sample at a time in `i64`: what the `i32`,
    /// row-at-a-time passes must reproduce exactly.
    fn reference_resize(
        src: &[u8],
        w: usize,
        h: usize,
        ch: usize,
        ow: usize,
        oh: usize,
    ) -> Vec<u8> {
        let sample = |k: &[i32], at: &dyn Fn(usize) -> u8| {
            let acc = k
                .iter()
                .enumerate()
                .fold(1i64 << (PRECISION_BITS - 1), |acc, (i, &wt)| {
                    acc + i64::from(at(i)) * i64::from(wt)
                });
            (acc >> PRECISION_BITS).clamp(0, 255) as u8
        };
        let (hor, ver) = (
            precompute_coeffs(w as u32, ow as u32),
            precompute_coeffs(h as u32, oh as u32),
        );
        let mut tmp = vec![0u8; h * ow * ch];
        for y in 0..h {
            for x in 0..ow {
                for c in 0..ch {
                    let at = |i: usize| src[(y * w + hor.start[x] + i) * ch + c];
                    tmp[(y * ow + x) * ch + c] = sample(&hor.weights[x], &at);
                }
            }
        }
        let mut out = vec![0u8; oh * ow * ch];
        for y in 0..oh {
            for i in 0..ow * ch {
                let at = |j: usize| tmp[(ver.start[y] + j) * ow * ch + i];
                out[y * ow * ch + i] = sample(&ver.weights[y], &at);
            }
        }
        out
    }

    #[test]
    fn resampler_matches_pillows_arithmetic_at_photo_sizes() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // Horizontal pass first in all of these (Pillow's order for them), so the reference
        // above, which resamples rows first, applies; the parity test covers the other order.
        let cases = [
            (640, 480, 298, 224),
            (545, 455, 224, 224),
            (17, 31, 64, 116),
            (9, 5, 4, 5),
        ];
        for (w, h, ow, oh) in cases {
            for ch in 1..=4 {
                let src: Vec<u8> = (0..w * h * ch).map(|_| rng.random()).collect();
                let want = reference_resize(&src, w, h, ch, ow, oh);
                let (w, h, ow, oh) = (w as u32, h as u32, ow as u32, oh as u32);
                // What runs here (AVX2 on most x86-64) and the portable build of it.
                let got = resize_pixels(&src, w, h, ch, ow, oh);
                assert!(got == want, "{w}x{h} -> {ow}x{oh}, {ch} channel(s)");
                let portable = resize_passes(&src, w, h, ch, ow, oh);
                assert!(
                    portable == want,
                    "{w}x{h} -> {ow}x{oh}, {ch} channel(s), portable"
                );
            }
        }
    }

    #[test]
    fn nearest_takes_pillows_pixel_and_16_bit_resizes_round_like_pillow() {
        // Halving: output x takes input floor(2x + 1) = 1, 3; a 3 → 2 stretch: floor(1.5x + 0.75).
        assert_eq!(resize_nearest(&[0, 1, 2, 3], 4, 1, 1, 2, 1), [1, 3]);
        assert_eq!(resize_nearest(&[10, 11, 12], 3, 1, 1, 2, 1), [10, 12]);
        // A flat 16-bit image stays flat; values over 8 bits survive a resize.
        let flat = vec![40_000u16; 12 * 9];
        assert!(resize_i16(&flat, 12, 9, 5, 4).iter().all(|&v| v == 40_000));
        let ramp: Vec<u16> = (0..16).map(|x| x * 4_000).collect();
        let half = resize_i16(&ramp, 16, 1, 8, 1);
        assert!(half.windows(2).all(|p| p[0] < p[1]), "{half:?}");
        assert!(half[7] > 55_000, "{half:?}");
    }
}
