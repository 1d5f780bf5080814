//! Hard-image mining: embed every training image with the model being trained (eval
//! transform) and keep each one's k nearest neighbours by cosine similarity, the
//! hard-negative images of the next epoch.
//!
//! All pairs are scored on the run's device as matrix products: the `n × dim` embeddings are
//! uploaded once, and each chunk of `c` query rows is multiplied by their transpose into a
//! `c × n` score block, so memory stays O(c · n) however large `n` is ([`default_chunk`]
//! keeps the block near [`BLOCK_BYTES`]). Each block's rows are then reduced to their top k.
//!
//! # Where the top k is taken
//!
//! Burn 0.22 offers `topk_with_indices`, but no backend promises an order among equal
//! scores, and on the CPU (`flex`) backend it is the default implementation: a full
//! (unstable) sort of every row, O(n log n) per row. Two selections are therefore kept:
//!
//! * [`Selection::Host`] (the default): the score block is read back and every row is
//!   scanned once on the host, in parallel with rayon, keeping a sorted buffer of its best k
//!   (O(n) per row for small k). Self is skipped by index, ties go to the lower index
//!   because columns are scanned in order and only a strictly better score displaces.
//! * [`Selection::Device`]: the self scores are set to -inf on the device, the device takes
//!   the top `k + TIE_MARGIN` per row, and the host orders those candidates by (score,
//!   index). When the k-th candidate's score equals the smallest one pulled, equal scores may
//!   have been left on the device, so that block is read back and such rows are scanned as in
//!   the host selection: the result is exact either way.
//!
//! Measured with `negclip bench mine` on the 2-core CPU machine (2026-11-29, see
//! docs/performance.md, "Hard-image mining"): at 10 000 × 512 the host selection took
//! 5.96 s and the device selection 25.47 s on `flex` (it pays a full sort of every score
//! row), so the host selection is the default. On a GPU the device selection avoids reading
//! back `n²` scores; it was not measured there.
//!
//! The contract is that of the old all-pairs function: best first, never the row itself,
//! ties to the lower index (equal scores, with -0 equal to +0), k capped at `n - 1`, and
//! empty lists when `n ≤ 1` or `k = 0`. Scores are f32 matrix products, so two scores
//! within rounding of each other may order differently from a sequential dot product.

use std::cmp::Ordering;

use burn::module::Module;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use negclip_data::preprocess::{normalize, resize_center_crop};
use negclip_data::training::{ExampleRef, TrainingSource};
use negclip_model::{Clip, ClipConfig};
use rayon::prelude::*;

use crate::error::TrainError;
use crate::evaluate::{Embedder, ModelEmbedder};

/// Images embedded per forward pass while mining.
const EMBED_BATCH: usize = 256;

/// The `k` nearest other samples of every sample of `source` (sample indices), by the
/// image embeddings of `model`: the lists hard images are drawn from in the next epoch.
pub fn mine_hard_images(
    model: &Clip,
    config: &ClipConfig,
    source: &dyn TrainingSource,
    k: usize,
    device: &Device,
) -> Result<Vec<Vec<usize>>, TrainError> {
    let inference = model.valid();
    let embedder = ModelEmbedder::new(&inference, config, device)?;
    let n = source.len();
    let mut embeddings = Vec::new();
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(EMBED_BATCH) {
        let pixels = chunk
            .iter()
            .map(|&i| {
                let example = source.example(ExampleRef::Sample(i))?;
                Ok(normalize(&resize_center_crop(
                    &example.image,
                    embedder.image_size(),
                )))
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        for row in embedder.embed_images(pixels.concat(), chunk.len()) {
            embeddings.extend(row);
        }
    }
    let dim = embeddings.len() / n.max(1);
    Ok(nearest_neighbours(&embeddings, n, dim, k, device))
}

/// The size a `chunk × n` f32 score block is kept near by [`default_chunk`]: 128 MiB, small
/// next to the embeddings of a large table on a GPU or in RAM, large enough that every
/// matrix product has hundreds of rows (at n = 109 k: 307 rows a block).
pub const BLOCK_BYTES: usize = 128 << 20;

/// Extra candidates per row that [`Selection::Device`] pulls beyond k, so that a few scores
/// equal to the k-th are settled on the host without reading the row back.
pub const TIE_MARGIN: usize = 4;

/// Where each row's top k is selected from its scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// Read the score block back and scan each row on the host (rayon). Faster on `flex`.
    #[default]
    Host,
    /// `topk_with_indices` on the device, ties settled on the host.
    Device,
}

/// How [`nearest_neighbours_with`] works; [`Default`] is what [`nearest_neighbours`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MiningOptions {
    /// Query rows per score block; 0 chooses [`default_chunk`] from n.
    pub chunk: usize,
    pub selection: Selection,
}

/// Query rows per `chunk × n` score block so that the block stays near [`BLOCK_BYTES`]
/// (at least 1 row, at most n).
pub fn default_chunk(n: usize) -> usize {
    (BLOCK_BYTES / (4 * n.max(1))).clamp(1, n.max(1))
}

/// The k nearest neighbours of every row of `embeddings` (`n` rows of `dim` unit-norm f32,
/// row-major) by cosine similarity, never the row itself, best first; ties go to the lower
/// index. Computed on `device` as matrix products of row chunks against all rows with a
/// running top-k, so memory stays O(chunk · n) ([`default_chunk`], [`Selection::Host`]).
pub fn nearest_neighbours(
    embeddings: &[f32],
    n: usize,
    dim: usize,
    k: usize,
    device: &Device,
) -> Vec<Vec<usize>> {
    nearest_neighbours_with(embeddings, n, dim, k, device, &MiningOptions::default())
}

/// [`nearest_neighbours`] with a chosen chunk size and selection.
pub fn nearest_neighbours_with(
    embeddings: &[f32],
    n: usize,
    dim: usize,
    k: usize,
    device: &Device,
    options: &MiningOptions,
) -> Vec<Vec<usize>> {
    assert_eq!(
        embeddings.len(),
        n * dim,
        "nearest_neighbours: {} values are not {n} rows of {dim}",
        embeddings.len()
    );
    let k = k.min(n.saturating_sub(1));
    if k == 0 {
        return vec![Vec::new(); n];
    }
    if dim == 0 {
        // Every score is 0: the lowest other indices.
        return (0..n)
            .map(|i| (0..n).filter(|&j| j != i).take(k).collect())
            .collect();
    }
    let chunk = match options.chunk {
        0 => default_chunk(n),
        c => c.min(n),
    };
    let all = Tensor::<2>::from_data(TensorData::new(embeddings.to_vec(), [n, dim]), device);
    let all_t = all.clone().transpose();
    let scores = |start: usize| {
        let end = (start + chunk).min(n);
        all.clone()
            .slice([start..end, 0..dim])
            .matmul(all_t.clone())
    };

    let mut neighbours = Vec::with_capacity(n);
    // The next block's product is queued before this block is read back, so that on an
    // asynchronous device the host's selection overlaps the next matrix product.
    let mut pending = Some(scores(0));
    let mut start = 0;
    while let Some(block) = pending.take() {
        let end = (start + chunk).min(n);
        if end < n {
            pending = Some(scores(end));
        }
        match options.selection {
            Selection::Host => neighbours.extend(select_on_host(block, start, n, k)),
            Selection::Device => neighbours.extend(select_on_device(block, start, n, k, device)),
        }
        start = end;
    }
    neighbours
}

/// The top k of each row of a `rows × n` score block whose row `r` is query `start + r`.
fn select_on_host(block: Tensor<2>, start: usize, n: usize, k: usize) -> Vec<Vec<usize>> {
    let values = read_f32(block);
    values
        .par_chunks(n)
        .enumerate()
        .map(|(r, row)| top_k_of_row(row, start + r, k))
        .collect()
}

/// One row's k best columns other than `skip`, best first, ties to the lower column.
fn top_k_of_row(row: &[f32], skip: usize, k: usize) -> Vec<usize> {
    if k > 64 {
        // Insertion into the buffer costs O(k); for large k select instead.
        let mut scored: Vec<(f32, usize)> = row
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != skip)
            .map(|(j, &v)| (v + 0.0, j))
            .collect();
        scored.select_nth_unstable_by(k - 1, better);
        scored.truncate(k);
        scored.sort_unstable_by(better);
        return scored.into_iter().map(|(_, j)| j).collect();
    }
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    for (j, &v) in row.iter().enumerate() {
        if j == skip {
            continue;
        }
        let v = v + 0.0;
        // Columns come in increasing order: an equal score never displaces (lower index).
        if best.len() == k && v.total_cmp(&best[k - 1].0) != Ordering::Greater {
            continue;
        }
        let at = best.partition_point(|&(w, _)| w.total_cmp(&v) != Ordering::Less);
        best.insert(at, (v, j));
        best.truncate(k);
    }
    best.into_iter().map(|(_, j)| j).collect()
}

/// Higher score first, then lower index. Scores are compared with `total_cmp` after
/// `+ 0.0`, which turns -0 into +0: a product summed from -0 terms is an exact 0 like any
/// other, and which sign it gets depends on the order of summation.
fn better(a: &(f32, usize), b: &(f32, usize)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

fn select_on_device(
    block: Tensor<2>,
    start: usize,
    n: usize,
    k: usize,
    device: &Device,
) -> Vec<Vec<usize>> {
    let rows = block.dims()[0];
    // Self scores to -inf: the diagonal of the square sub-block at columns start..start+rows.
    let eye: Tensor<2, Bool> = Tensor::<2, Int>::eye(rows, device).equal_elem(1);
    let own = block
        .clone()
        .slice([0..rows, start..start + rows])
        .mask_fill(eye, f32::NEG_INFINITY);
    let block = block.slice_assign([0..rows, start..start + rows], own);
    let pulled = (k + TIE_MARGIN).min(n);
    let (values, indices) = block.clone().topk_with_indices(pulled, 1);
    let values = read_f32(values);
    let indices: Vec<i64> = indices
        .into_data()
        .try_into_vec_as::<i64>()
        .expect("top-k indices read back as i64");

    let mut out = Vec::with_capacity(rows);
    let mut unsettled = Vec::new();
    for r in 0..rows {
        let mut candidates: Vec<(f32, usize)> = values[r * pulled..(r + 1) * pulled]
            .iter()
            .zip(&indices[r * pulled..(r + 1) * pulled])
            .map(|(&v, &j)| (v + 0.0, j as usize))
            .filter(|&(_, j)| j != start + r)
            .collect();
        candidates.sort_unstable_by(better);
        let smallest = values[r * pulled..(r + 1) * pulled]
            .iter()
            .map(|&v| v + 0.0)
            .min_by(f32::total_cmp)
            .expect("at least one candidate");
        // Every score left on the device is ≤ the smallest pulled; if the k-th is strictly
        // above it, nothing left behind can tie with the k-th.
        let settled = pulled == n || candidates[k - 1].0.total_cmp(&smallest) == Ordering::Greater;
        if !settled {
            unsettled.push(r);
        }
        candidates.truncate(k);
        out.push(candidates.into_iter().map(|(_, j)| j).collect());
    }
    if !unsettled.is_empty() {
        let scores = read_f32(block);
        for r in unsettled {
            out[r] = top_k_of_row(&scores[r * n..(r + 1) * n], start + r, k);
        }
    }
    out
}

fn read_f32(tensor: Tensor<2>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("scores read back as f32")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// All pairs on the host in f64, sorted by (score desc, index asc): the reference.
    fn brute_force(rows: &[f32], n: usize, dim: usize, k: usize) -> Vec<Vec<usize>> {
        let k = k.min(n.saturating_sub(1));
        (0..n)
            .map(|i| {
                let q = &rows[i * dim..(i + 1) * dim];
                let mut scored: Vec<(f64, usize)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let r = &rows[j * dim..(j + 1) * dim];
                        let score: f64 = q.iter().zip(r).map(|(a, b)| *a as f64 * *b as f64).sum();
                        (score + 0.0, j)
                    })
                    .collect();
                scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                scored.into_iter().take(k).map(|(_, j)| j).collect()
            })
            .collect()
    }

    fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rows = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            rows.extend(v.iter().map(|x| x / norm));
        }
        rows
    }

    /// Rows whose entries are multiples of 1/8 in [-1, 1]: every dot product is exact in
    /// f32 whatever the order of summation, and many are equal, so ties are everywhere.
    fn exact_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * dim)
            .map(|_| rng.random_range(-2i32..=2) as f32 / 8.0)
            .collect()
    }

    fn options(chunk: usize, selection: Selection) -> MiningOptions {
        MiningOptions { chunk, selection }
    }

    const SELECTIONS: [Selection; 2] = [Selection::Host, Selection::Device];

    #[test]
    fn default_chunk_keeps_the_block_near_its_budget() {
        assert_eq!(default_chunk(0), 1);
        assert_eq!(default_chunk(300), 300);
        let c = default_chunk(109_000);
        assert_eq!(c, 307);
        assert!(c * 109_000 * 4 <= BLOCK_BYTES);
    }

    #[test]
    fn random_unit_vectors_match_the_brute_force_reference() {
        let (n, dim) = (300, 16);
        let rows = unit_vectors(n, dim, 7);
        let device = Device::flex();
        matches_brute_force(&rows, n, dim, &[1, 3, 10], &[0, 7, 64, 299]);
        assert_eq!(
            nearest_neighbours(&rows, n, dim, 3, &device),
            brute_force(&rows, n, dim, 3)
        );
    }

    #[test]
    fn exact_ties_go_to_the_lower_index_everywhere() {
        // 5 distinct values per coordinate in 4 dimensions: 625 possible rows, so 200 rows
        // hold many equal scores and some duplicate rows.
        let (n, dim) = (200, 4);
        let rows = exact_rows(n, dim, 3);
        matches_brute_force(&rows, n, dim, &[1, 5, 12, 100], &[0, 13]);
    }

    /// Every (k, chunk, selection) gives the brute-force reference's lists.
    fn matches_brute_force(rows: &[f32], n: usize, dim: usize, ks: &[usize], chunks: &[usize]) {
        let device = Device::flex();
        for &k in ks {
            let expected = brute_force(rows, n, dim, k);
            for &chunk in chunks {
                for selection in SELECTIONS {
                    let options = options(chunk, selection);
                    let got = nearest_neighbours_with(rows, n, dim, k, &device, &options);
                    assert_eq!(got, expected, "k {k}, chunk {chunk}, {selection:?}");
                }
            }
        }
    }

    #[test]
    fn duplicates_are_ordered_by_index_and_never_include_self() {
        // Eight rows are the same vector (exact scores of 1 with each other); the others
        // point elsewhere (entries chosen so that every score is exact in f32). Seven equal scores per copy are more than k + TIE_MARGIN, so the
        // device selection must read those rows back.
        let dim = 3;
        let a = [1.0f32, 0.0, 0.0];
        let others = [
            [0.0f32, 0.0, 1.0],
            [0.0, 1.0, 0.0],
            [0.0, -0.5, 0.75],
            [-1.0, 0.0, 0.0],
            [0.0, 0.0, -1.0],
            [0.0, 0.75, 0.5],
            [0.0, -1.0, 0.0],
            [0.0, -0.75, -0.5],
        ];
        let copies = [1, 4, 6, 8, 9, 11, 13, 14];
        let n = 16;
        let mut rows = Vec::new();
        let mut other = others.iter();
        for i in 0..n {
            if copies.contains(&i) {
                rows.extend(a);
            } else {
                rows.extend(other.next().unwrap());
            }
        }
        let device = Device::flex();
        for selection in SELECTIONS {
            for chunk in [0, 5] {
                let o = options(chunk, selection);
                let nn = nearest_neighbours_with(&rows, n, dim, 2, &device, &o);
                assert_eq!(nn[1], vec![4, 6], "{selection:?}, chunk {chunk}");
                assert_eq!(nn[8], vec![1, 4], "{selection:?}, chunk {chunk}");
                assert_eq!(nn[14], vec![1, 4], "{selection:?}, chunk {chunk}");
                for (i, list) in nn.iter().enumerate() {
                    assert_eq!(list.len(), 2);
                    assert!(!list.contains(&i), "row {i} lists itself: {list:?}");
                }
                let nn = nearest_neighbours_with(&rows, n, dim, 7, &device, &o);
                assert_eq!(nn[9], vec![1, 4, 6, 8, 11, 13, 14], "{selection:?}");
                assert_eq!(nn, brute_force(&rows, n, dim, 7), "{selection:?}");
            }
        }
    }

    #[test]
    fn k_is_capped_and_tiny_inputs_give_empty_lists() {
        let device = Device::flex();
        let rows = unit_vectors(5, 3, 1);
        for selection in SELECTIONS {
            let o = options(0, selection);
            let nn = nearest_neighbours_with(&rows, 5, 3, 10, &device, &o);
            assert_eq!(nn, brute_force(&rows, 5, 3, 4));
            assert!(nn.iter().all(|list| list.len() == 4));
            for (i, list) in nn.iter().enumerate() {
                let mut sorted = list.clone();
                sorted.sort();
                let others: Vec<usize> = (0..5).filter(|&j| j != i).collect();
                assert_eq!(sorted, others);
            }
            assert_eq!(
                nearest_neighbours_with(&rows[..3], 1, 3, 3, &device, &o),
                vec![Vec::<usize>::new()]
            );
            assert!(nearest_neighbours_with(&[], 0, 3, 3, &device, &o).is_empty());
            assert_eq!(
                nearest_neighbours_with(&rows, 5, 3, 0, &device, &o),
                vec![Vec::<usize>::new(); 5]
            );
        }
    }

    #[test]
    fn the_old_example_still_holds() {
        let rows = [1.0f32, 0.0, 0.9, 0.436, 0.0, 1.0, -1.0, 0.0];
        let nn = nearest_neighbours(&rows, 4, 2, 2, &Device::flex());
        assert_eq!(nn[0], vec![1, 2]);
        assert_eq!(nn[2], vec![1, 0]);
    }
}
