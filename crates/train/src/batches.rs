//! Training batches in NegCLIP's layout, built on background threads.
//!
//! Everything random in a batch (the epoch's sample order, augmentation, which hard caption,
//! which neighbour image) is drawn from a generator seeded by (run seed, epoch, sample), so
//! batch `b` of epoch `e` is the same whether the run got there straight or by resuming.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use image::RgbImage;
use negclip_data::negatives::{self, NegativeKind, PosTagger};
use negclip_data::preprocess::{load_image, normalize, preprocess_rgb, random_resized_crop};
use negclip_data::synth::{self, Split, WorldConfig};
use negclip_data::tables::TrainingRow;
use negclip_data::tokenizer::ClipTokenizer;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::TrainError;

/// Where training samples come from.
pub enum SampleSource {
    /// The synthetic world's train split: sample `i` is scene `scenes[i]`.
    Synthetic {
        world: WorldConfig,
        seed: u64,
        scenes: Vec<u64>,
    },
    /// Rows of a training table, image paths relative to `image_root`.
    Table {
        rows: Vec<TrainingRow>,
        image_root: PathBuf,
    },
}

impl SampleSource {
    pub fn len(&self) -> usize {
        match self {
            SampleSource::Synthetic { scenes, .. } => scenes.len(),
            SampleSource::Table { rows, .. } => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample's image and positive caption. For the synthetic world, indices from
    /// `len()` on are the counterfactual twins of the scenes ([`SampleSource::twin_index`]).
    pub fn get(&self, index: usize) -> Result<(RgbImage, String), TrainError> {
        match self {
            SampleSource::Synthetic {
                world,
                seed,
                scenes,
            } => {
                let sample = match index.checked_sub(scenes.len()) {
                    None => synth::sample(Split::Train, scenes[index], world, *seed),
                    Some(twin) => synth::twin_sample(Split::Train, scenes[twin], world, *seed),
                };
                Ok((sample.image, sample.caption))
            }
            SampleSource::Table { rows, image_root } => {
                let row = &rows[index];
                let path = image_root.join(&row.image);
                let image = load_image(&path).map_err(|e| TrainError::Data(e.to_string()))?;
                Ok((image.to_rgb8(), row.caption.clone()))
            }
        }
    }

    /// Where [`SampleSource::get`] finds the counterfactual twin of synthetic sample `index`
    /// (hard-negative images drawn by the world instead of mined).
    pub fn twin_index(&self, index: usize) -> usize {
        self.len() + index
    }

    /// Each synthetic scene's partner scenes ([`synth::partner_lists`], first `k`), or its
    /// counterfactual twin where it has none. A table has no world to ask: no lists.
    pub fn partners(&self, k: usize) -> Vec<Vec<usize>> {
        let SampleSource::Synthetic {
            world,
            seed,
            scenes,
        } = self
        else {
            return Vec::new();
        };
        synth::partner_lists(Split::Train, scenes, k, world, *seed)
            .into_iter()
            .enumerate()
            .map(|(i, partners)| match partners.is_empty() {
                true => vec![self.twin_index(i)],
                false => partners,
            })
            .collect()
    }

    /// Hard captions stored with the sample (tables only).
    fn stored_negatives(&self, index: usize) -> Vec<String> {
        match self {
            SampleSource::Synthetic { .. } => Vec::new(),
            SampleSource::Table { rows, .. } => rows[index]
                .negatives
                .iter()
                .map(|n| n.text.clone())
                .collect(),
        }
    }

    /// Nearest-neighbour images stored with the sample (tables only).
    pub fn stored_neighbours(&self, index: usize) -> Vec<usize> {
        match self {
            SampleSource::Synthetic { .. } => Vec::new(),
            SampleSource::Table { rows, .. } => rows[index].neg_images.clone(),
        }
    }
}

/// How hard captions are found for a positive.
pub enum NegativePolicy {
    /// No hard captions (plain CLIP loss).
    None,
    /// Rewrite the caption with these rewriters, keeping up to `per_caption`; `fresh` draws
    /// new ones every epoch.
    Rewrite {
        kinds: Vec<NegativeKind>,
        tagger: &'static dyn PosTagger,
        fresh: bool,
        per_caption: usize,
    },
    /// Up to `per_caption` of the negatives stored in the table.
    Stored { per_caption: usize },
}

/// Everything fixed for the run that batch building needs.
pub struct BatchPlan {
    pub source: SampleSource,
    pub negatives: NegativePolicy,
    /// Neighbour lists for hard-negative images (empty: no hard images).
    pub neighbours: Vec<Vec<usize>>,
    pub tokenizer: ClipTokenizer,
    pub image_size: u32,
    pub context_length: usize,
    pub batch_size: usize,
    /// Random resized crop scale range; `None` = the eval transform.
    pub crop_scale: Option<(f32, f32)>,
    pub seed: u64,
}

/// One NegCLIP batch, ready for the model.
///
/// Images: B anchors, then (with hard images) one neighbour per anchor: N rows.
/// Positives: the caption of each image, same order: N rows.
/// Negatives: up to `per_caption` hard captions per positive, as many as were found: M rows.
#[derive(Debug, Clone)]
pub struct Batch {
    pub epoch: usize,
    pub index: usize,
    pub pixels: Vec<f32>,
    pub n_images: usize,
    pub positives: Vec<u32>,
    pub negatives: Vec<u32>,
    pub n_negatives: usize,
}

/// A seed unique to (run seed, epoch, sample, purpose), mixed with SplitMix64.
pub fn derive_seed(seed: u64, epoch: usize, sample: usize, purpose: u64) -> u64 {
    let mut x = seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (sample as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ purpose.wrapping_mul(0x1656_67B1_9E37_79F9);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const ORDER: u64 = 1;
const AUGMENT: u64 = 2;
const NEGATIVE: u64 = 3;
const NEIGHBOUR: u64 = 4;

impl BatchPlan {
    /// Full batches per epoch (the last partial batch is dropped, as open_clip does).
    pub fn batches_per_epoch(&self) -> usize {
        self.source.len() / self.batch_size
    }

    /// The epoch's sample order.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.source.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            self.seed, epoch, 0, ORDER,
        )));
        order
    }

    /// Build batch `index` of `epoch` (`order` from [`BatchPlan::order`]).
    pub fn build(&self, epoch: usize, index: usize, order: &[usize]) -> Result<Batch, TrainError> {
        let anchors = &order[index * self.batch_size..(index + 1) * self.batch_size];
        let mut members: Vec<usize> = anchors.to_vec();
        if !self.neighbours.is_empty() {
            for &anchor in anchors {
                let options = &self.neighbours[anchor];
                let mut rng =
                    ChaCha8Rng::seed_from_u64(derive_seed(self.seed, epoch, anchor, NEIGHBOUR));
                members.push(options[rng.random_range(0..options.len())]);
            }
        }
        // Positions in the batch matter for the seed: an image that is both an anchor and a
        // neighbour is augmented twice, differently.
        let prepared: Vec<(Vec<f32>, String, Vec<String>)> = members
            .par_iter()
            .enumerate()
            .map(|(slot, &sample)| self.prepare(epoch, slot, sample))
            .collect::<Result<_, _>>()?;

        let n_images = prepared.len();
        let mut pixels = Vec::with_capacity(n_images * 3 * (self.image_size as usize).pow(2));
        let mut positives = Vec::with_capacity(n_images);
        let mut negatives = Vec::new();
        for (image, caption, negative) in prepared {
            pixels.extend(image);
            positives.push(caption);
            negatives.extend(negative);
        }
        Ok(Batch {
            epoch,
            index,
            pixels,
            n_images,
            positives: self
                .tokenizer
                .tokenize_batch(&positives, self.context_length),
            n_negatives: negatives.len(),
            negatives: self
                .tokenizer
                .tokenize_batch(&negatives, self.context_length),
        })
    }

    /// One member of a batch: its pixels, its caption and its hard captions.
    fn prepare(
        &self,
        epoch: usize,
        slot: usize,
        sample: usize,
    ) -> Result<(Vec<f32>, String, Vec<String>), TrainError> {
        let (image, caption) = self.source.get(sample)?;
        let pixels = match self.crop_scale {
            Some(scale) => {
                let seed = derive_seed(
                    self.seed,
                    epoch,
                    sample * 2 + (slot >= self.batch_size) as usize,
                    AUGMENT,
                );
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                normalize(&random_resized_crop(
                    &image,
                    self.image_size,
                    scale,
                    &mut rng,
                ))
            }
            None => preprocess_rgb(&image, self.image_size),
        };
        let negatives = self.hard_captions(epoch, sample, &caption);
        Ok((pixels, caption, negatives))
    }

    fn hard_captions(&self, epoch: usize, sample: usize, caption: &str) -> Vec<String> {
        match &self.negatives {
            NegativePolicy::None => Vec::new(),
            NegativePolicy::Stored { per_caption } => {
                let stored = self.source.stored_negatives(sample);
                let mut rng =
                    ChaCha8Rng::seed_from_u64(derive_seed(self.seed, epoch, sample, NEGATIVE));
                stored
                    .choose_multiple(&mut rng, *per_caption)
                    .cloned()
                    .collect()
            }
            NegativePolicy::Rewrite {
                kinds,
                tagger,
                fresh,
                per_caption,
            } => {
                let round = if *fresh { epoch } else { 0 };
                let mut rng =
                    ChaCha8Rng::seed_from_u64(derive_seed(self.seed, round, sample, NEGATIVE));
                negatives::generate(caption, *tagger, kinds, *per_caption, &mut rng)
                    .into_iter()
                    .map(|n| n.text)
                    .collect()
            }
        }
    }
}

/// Batches of one epoch from `start` on, built ahead on a background thread (each batch's
/// members in parallel) so that the model never waits for data.
pub struct BatchStream {
    receiver: Receiver<Result<Batch, TrainError>>,
    worker: Option<JoinHandle<()>>,
}

impl BatchStream {
    pub fn start(plan: Arc<BatchPlan>, epoch: usize, start: usize, ahead: usize) -> BatchStream {
        let (sender, receiver) = sync_channel(ahead.max(1));
        let worker = std::thread::Builder::new()
            .name("negclip-batches".into())
            .spawn(move || {
                let order = plan.order(epoch);
                for index in start..plan.batches_per_epoch() {
                    let batch = plan.build(epoch, index, &order);
                    let failed = batch.is_err();
                    if sender.send(batch).is_err() || failed {
                        return;
                    }
                }
            })
            .expect("spawn the batch thread");
        BatchStream {
            receiver,
            worker: Some(worker),
        }
    }
}

impl Iterator for BatchStream {
    type Item = Result<Batch, TrainError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.recv().ok()
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        // Unblock the producer: dropping the receiver makes its next send fail.
        let (_, dead) = sync_channel(0);
        drop(std::mem::replace(&mut self.receiver, dead));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// k nearest neighbours of each row by cosine similarity (rows are unit vectors), never
/// the row itself: the hard-negative images of the next epoch.
pub fn nearest_neighbours(embeddings: &[Vec<f32>], k: usize) -> Vec<Vec<usize>> {
    embeddings
        .par_iter()
        .enumerate()
        .map(|(i, query)| {
            let mut scored: Vec<(f32, usize)> = embeddings
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, other)| (query.iter().zip(other).map(|(a, b)| a * b).sum(), j))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_differ_by_every_input() {
        let base = derive_seed(1, 2, 3, 4);
        assert_ne!(base, derive_seed(0, 2, 3, 4));
        assert_ne!(base, derive_seed(1, 0, 3, 4));
        assert_ne!(base, derive_seed(1, 2, 0, 4));
        assert_ne!(base, derive_seed(1, 2, 3, 0));
        assert_eq!(base, derive_seed(1, 2, 3, 4));
    }

    #[test]
    fn neighbours_are_the_most_similar_other_rows() {
        let rows = vec![
            vec![1.0, 0.0],
            vec![0.9, 0.436],
            vec![0.0, 1.0],
            vec![-1.0, 0.0],
        ];
        let nn = nearest_neighbours(&rows, 2);
        assert_eq!(nn[0], vec![1, 2]);
        assert_eq!(nn[2], vec![1, 0]);
        assert!(nn.iter().enumerate().all(|(i, n)| !n.contains(&i)));
    }
}
