//! Hard-image mining: embed every training image with the model being trained (eval
//! transform) and keep each one's `k` nearest neighbours by cosine similarity.

use burn::module::Module;
use burn::tensor::Device;
use negclip_data::preprocess::preprocess_rgb;
use negclip_data::training::{ExampleRef, TrainingSource};
use negclip_model::{Clip, ClipConfig};

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
                Ok(preprocess_rgb(&example.image, embedder.image_size()))
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        for row in embedder.embed_images(pixels.concat(), chunk.len()) {
            embeddings.extend(row);
        }
    }
    let dim = embeddings.len() / n.max(1);
    Ok(nearest_neighbours(&embeddings, n, dim, k, device))
}

/// The k nearest neighbours of every row of `embeddings` (`n` unit rows of `dim`) by cosine
/// similarity, never the row itself, best first; ties go to the lower index.
pub fn nearest_neighbours(
    embeddings: &[f32],
    n: usize,
    dim: usize,
    k: usize,
    _device: &Device,
) -> Vec<Vec<usize>> {
    use rayon::prelude::*;
    let rows: Vec<&[f32]> = embeddings.chunks(dim.max(1)).take(n).collect();
    rows.par_iter()
        .enumerate()
        .map(|(i, query)| {
            let mut scored: Vec<(f32, usize)> = rows
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, other)| (query.iter().zip(*other).map(|(a, b)| a * b).sum(), j))
                .collect();
            let k = k.min(scored.len());
            if k == 0 {
                return Vec::new();
            }
            scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scored.truncate(k);
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scored.into_iter().map(|(_, j)| j).collect()
        })
        .collect()
}
