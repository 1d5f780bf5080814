//! Training batches in NegCLIP's layout, built on background threads.
//!
//! Everything random in a batch (the epoch's sample order, augmentation, which hard caption,
//! which neighbour image) is drawn from a generator seeded by (run seed, epoch, sample), so
//! batch `b` of epoch `e` is the same whether the run got there straight or by resuming,
//! and whichever threads ([`Workers`]) prepared it. In a run of W ranks each rank prepares
//! its [`Slice`] of every batch: the same members, drawn alike, as one process would put in
//! those places.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use negclip_data::negatives::{self, Draw, NegativeKind, PosTagger};
use negclip_data::preprocess::{normalize_into, random_resized_crop, resize_center_crop};
use negclip_data::seed;
use negclip_data::tokenizer::ClipTokenizer;
use negclip_data::training::{ExampleRef, TrainingSource};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::RewriteNegatives;
use crate::error::TrainError;

/// How hard captions are found for a positive.
pub enum NegativePolicy {
    /// No hard captions (plain CLIP loss).
    None,
    /// Rewrite the caption with these rewriters, keeping up to `per_caption` drawn as `draw`
    /// says; `fresh` draws new ones every epoch.
    Rewrite {
        kinds: Vec<NegativeKind>,
        tagger: &'static dyn PosTagger,
        fresh: bool,
        per_caption: usize,
        draw: Draw,
    },
    /// Up to `per_caption` of the negatives stored in the table.
    Stored { per_caption: usize },
}

impl NegativePolicy {
    /// `[negatives]` with `source = "rewrite"`, rewritten by the shipped tagger's words.
    pub fn rewrite(section: &RewriteNegatives) -> NegativePolicy {
        NegativePolicy::Rewrite {
            kinds: section.kinds.clone(),
            tagger: negatives::shipped_tagger(),
            fresh: section.regenerate_each_epoch,
            per_caption: section.per_caption.get(),
            draw: section.draw,
        }
    }
}

/// For each sample, the examples its hard image is drawn from; empty: no hard images.
pub type HardImageLists = Vec<Vec<ExampleRef>>;

/// Everything fixed for the run that batch building needs.
pub struct BatchPlan {
    pub source: Box<dyn TrainingSource>,
    pub negatives: NegativePolicy,
    pub tokenizer: ClipTokenizer,
    pub image_size: u32,
    pub context_length: usize,
    /// The global batch: all ranks' slices together.
    pub batch_size: usize,
    /// The part of each batch this process prepares.
    pub slice: Slice,
    /// Random resized crop scale range; `None` = the eval transform.
    pub crop_scale: Option<(f32, f32)>,
    pub seed: u64,
    /// The threads that prepare a batch's members.
    pub workers: Workers,
}

/// Slice `index` of `of` equal slices of every batch: rank `index`'s anchors, with their hard
/// images and hard captions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub index: usize,
    pub of: usize,
}

impl Slice {
    /// The whole batch (one process).
    pub const WHOLE: Slice = Slice { index: 0, of: 1 };
}

/// The threads a batch is prepared on (`loader.workers`).
pub enum Workers {
    /// Rayon's global pool: one thread per core. On the CPU device the model's compute runs
    /// on the same pool, so the loader and the step share the cores instead of
    /// oversubscribing them; on a GPU device little else runs on it, so the loader has the
    /// cores.
    Shared,
    /// A pool of the loader's own, of this many threads.
    Dedicated(rayon::ThreadPool),
}

impl Workers {
    /// `0`: the shared pool; `n`: a pool of `n` threads of the loader's own.
    pub fn new(threads: usize) -> Result<Workers, TrainError> {
        if threads == 0 {
            return Ok(Workers::Shared);
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("negclip-loader-{i}"))
            .build()
            .map(Workers::Dedicated)
            .map_err(|e| TrainError::Config {
                path: "loader.workers".into(),
                message: format!("cannot start {threads} loader threads: {e}"),
            })
    }

    /// How many threads prepare a batch.
    pub fn threads(&self) -> usize {
        match self {
            Workers::Shared => rayon::current_num_threads(),
            Workers::Dedicated(pool) => pool.current_num_threads(),
        }
    }

    /// Run `work` with its parallel iterators on these threads.
    fn install<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        match self {
            Workers::Shared => work(),
            Workers::Dedicated(pool) => pool.install(work),
        }
    }
}

/// One NegCLIP batch, ready for the model.
///
/// Images: B anchors, then (with hard images) one neighbour per anchor: N rows.
/// Positives: the caption of each image, same order: N rows.
/// Negatives: up to `per_caption` hard captions per positive, as many as were found: M rows.
#[derive(Debug, Clone)]
pub struct Batch {
    pub pixels: Vec<f32>,
    pub n_images: usize,
    pub positives: Vec<u32>,
    pub negatives: Vec<u32>,
    pub n_negatives: usize,
}

// What a draw is for, mixed into its seed ([`seed::for_sample`]).
const ORDER: u64 = 1;
const AUGMENT: u64 = 2;
const NEGATIVE: u64 = 3;
const NEIGHBOUR: u64 = 4;

impl BatchPlan {
    /// Full batches per epoch (the last partial batch is dropped, as open_clip does; every
    /// rank takes the same number of steps).
    pub fn batches_per_epoch(&self) -> usize {
        self.source.len() / self.batch_size
    }

    /// Anchors in this process's slice of a batch.
    pub fn slice_size(&self) -> usize {
        self.batch_size / self.slice.of
    }

    /// The epoch's sample order.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.source.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed::for_sample(
            self.seed, epoch, 0, ORDER,
        )));
        order
    }

    /// Build batch `index` of `epoch` (`order` from [`BatchPlan::order`]), each anchor's
    /// hard image drawn from `hard_images`.
    pub fn build(
        &self,
        epoch: usize,
        index: usize,
        order: &[usize],
        hard_images: &HardImageLists,
    ) -> Result<Batch, TrainError> {
        let start = index * self.batch_size + self.slice.index * self.slice_size();
        let anchors = &order[start..start + self.slice_size()];
        let mut members: Vec<ExampleRef> = anchors.iter().map(|&a| ExampleRef::Sample(a)).collect();
        if !hard_images.is_empty() {
            for &anchor in anchors {
                let options = &hard_images[anchor];
                let mut rng = ChaCha8Rng::seed_from_u64(seed::for_sample(
                    self.seed, epoch, anchor, NEIGHBOUR,
                ));
                members.push(options[rng.random_range(0..options.len())]);
            }
        }
        self.workers.install(|| self.assemble(epoch, &members))
    }

    /// Prepare `members` in parallel and lay them out as a batch.
    fn assemble(&self, epoch: usize, members: &[ExampleRef]) -> Result<Batch, TrainError> {
        let n_images = members.len();
        let per_image = 3 * (self.image_size as usize).pow(2);
        // Each member writes its pixels straight into its place in the batch: at 224 px a
        // batch of 256 is 154 MB, which gathering afterwards would copy on one thread.
        let mut pixels = vec![0f32; n_images * per_image];
        // Positions in the batch matter for the seed: an image that is both an anchor and a
        // neighbour is augmented twice, differently.
        let captions: Vec<(String, Vec<String>)> = pixels
            .par_chunks_mut(per_image)
            .zip(members.par_iter().enumerate())
            .map(|(out, (slot, &member))| self.prepare(epoch, slot, member, out))
            .collect::<Result<_, _>>()?;

        let mut positives = Vec::with_capacity(n_images);
        let mut negatives = Vec::new();
        for (caption, negative) in captions {
            positives.push(caption);
            negatives.extend(negative);
        }
        Ok(Batch {
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

    /// One member of a batch: its pixels, written into `pixels`, then its caption and its
    /// hard captions.
    fn prepare(
        &self,
        epoch: usize,
        slot: usize,
        member: ExampleRef,
        pixels: &mut [f32],
    ) -> Result<(String, Vec<String>), TrainError> {
        let example = self.source.example(member)?;
        let (image, caption) = (example.image, example.caption);
        let sample = member.draw_index(self.source.len());
        let resized = match self.crop_scale {
            Some(scale) => {
                let seed = seed::for_sample(
                    self.seed,
                    epoch,
                    sample * 2 + (slot >= self.slice_size()) as usize,
                    AUGMENT,
                );
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                random_resized_crop(&image, self.image_size, scale, &mut rng)
            }
            None => resize_center_crop(&image, self.image_size),
        };
        normalize_into(&resized, pixels);
        let negatives = self.hard_captions(epoch, sample, &caption, &example.negatives);
        Ok((caption, negatives))
    }

    /// Up to `per_caption` hard captions of `caption`, member `sample`'s draw.
    fn hard_captions(
        &self,
        epoch: usize,
        sample: usize,
        caption: &str,
        stored: &[String],
    ) -> Vec<String> {
        match &self.negatives {
            NegativePolicy::None => Vec::new(),
            NegativePolicy::Stored { per_caption } => {
                let mut rng =
                    ChaCha8Rng::seed_from_u64(seed::for_sample(self.seed, epoch, sample, NEGATIVE));
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
                draw,
            } => {
                let round = if *fresh { epoch } else { 0 };
                let mut rng =
                    ChaCha8Rng::seed_from_u64(seed::for_sample(self.seed, round, sample, NEGATIVE));
                draw.negatives(caption, *tagger, kinds, *per_caption, &mut rng)
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
    /// Batches `start..` of `epoch`, `ahead` of them built before they are asked for.
    pub fn start(
        plan: Arc<BatchPlan>,
        hard_images: Arc<HardImageLists>,
        epoch: usize,
        start: usize,
        ahead: usize,
    ) -> BatchStream {
        let (sender, receiver) = sync_channel(ahead.max(1));
        let worker = std::thread::Builder::new()
            .name("negclip-batches".into())
            .spawn(move || {
                let order = plan.order(epoch);
                for index in start..plan.batches_per_epoch() {
                    let batch = plan.build(epoch, index, &order, &hard_images);
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

#[cfg(test)]
mod tests {
    use super::*;
    use negclip_data::negatives::shipped_tagger;
    use negclip_data::training::{SyntheticConfig, SyntheticStream};

    /// Twelve synthetic scenes, each with its counterfactual twin as hard image: every kind
    /// of random draw (order, crop, rewrite, neighbour) goes into a batch.
    fn plan(workers: usize) -> BatchPlan {
        let config: SyntheticConfig =
            toml::from_str("samples_per_epoch = 12\nhard_images = \"twins\"").unwrap();
        BatchPlan {
            source: Box::new(SyntheticStream::new(&config).unwrap()),
            negatives: NegativePolicy::Rewrite {
                kinds: vec![NegativeKind::SwapRelation, NegativeKind::ShuffleOrder],
                tagger: shipped_tagger(),
                fresh: true,
                per_caption: 2,
                draw: Draw::ByRewrite,
            },
            tokenizer: ClipTokenizer::new(),
            image_size: 24,
            context_length: 16,
            batch_size: 6,
            slice: Slice::WHOLE,
            crop_scale: Some((0.5, 1.0)),
            seed: 11,
            workers: Workers::new(workers).unwrap(),
        }
    }

    fn batch(plan: &BatchPlan, epoch: usize, index: usize) -> Batch {
        let hard_images = match plan.source.hard_images() {
            negclip_data::training::HardImages::Given(lists) => lists.clone(),
            _ => panic!("twins are given lists"),
        };
        plan.build(epoch, index, &plan.order(epoch), &hard_images)
            .unwrap()
    }

    #[test]
    fn batches_are_the_same_whatever_the_worker_count() {
        let (one, three, shared) = (plan(1), plan(3), plan(0));
        assert_eq!(one.workers.threads(), 1);
        assert_eq!(three.workers.threads(), 3);
        for (epoch, index) in [(0, 0), (0, 1), (1, 0)] {
            let expected = batch(&one, epoch, index);
            assert_eq!(expected.n_images, 12);
            assert!(expected.n_negatives > 0);
            for other in [&three, &shared] {
                let got = batch(other, epoch, index);
                let bits = |b: &Batch| b.pixels.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&expected), "epoch {epoch} batch {index}");
                assert_eq!(got.positives, expected.positives);
                assert_eq!(got.negatives, expected.negatives);
                assert_eq!(got.n_negatives, expected.n_negatives);
            }
        }
    }

    #[test]
    fn the_slices_of_a_batch_hold_its_members_prepared_alike() {
        let whole = plan(1);
        let expected = batch(&whole, 1, 0);
        let per_image = 3 * 24 * 24;
        let bits = |pixels: &[f32]| pixels.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
        let sorted_rows = |ids: &[u32]| {
            let mut rows: Vec<Vec<u32>> = ids.chunks(16).map(<[u32]>::to_vec).collect();
            rows.sort();
            rows
        };
        for of in [2, 3] {
            // The whole batch is anchors then neighbours; each slice is its anchors then
            // their neighbours.
            let (mut anchors, mut neighbours) = (Vec::new(), Vec::new());
            let (mut anchor_captions, mut neighbour_captions) = (Vec::new(), Vec::new());
            let mut negatives = Vec::new();
            for index in 0..of {
                let mut part = plan(1);
                part.slice = Slice { index, of };
                let got = batch(&part, 1, 0);
                let k = 6 / of;
                assert_eq!(got.n_images, 2 * k);
                anchors.extend(bits(&got.pixels[..k * per_image]));
                neighbours.extend(bits(&got.pixels[k * per_image..]));
                anchor_captions.extend_from_slice(&got.positives[..k * 16]);
                neighbour_captions.extend_from_slice(&got.positives[k * 16..]);
                negatives.extend_from_slice(&got.negatives);
            }
            anchors.extend(neighbours);
            anchor_captions.extend(neighbour_captions);
            assert_eq!(anchors, bits(&expected.pixels), "{of} slices");
            assert_eq!(anchor_captions, expected.positives, "{of} slices");
            assert_eq!(sorted_rows(&negatives), sorted_rows(&expected.negatives));
        }
    }
}
