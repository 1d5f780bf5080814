//! The synthetic world as a training source: scene `scenes[i]` of the train split is sample
//! `i`, rendered and captioned on demand (scenes are a pure function of the world seed and
//! the index, so nothing is stored and any sample can be drawn at any time).

use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

use super::{Example, ExampleRef, HardImages, TrainingError, TrainingSource};
use crate::picture::Picture;
use crate::synth::{self, Split, WorldConfig};

/// `[data]` with `source = "synthetic"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Samples per epoch.
    #[serde(default = "default_samples")]
    pub samples_per_epoch: usize,
    /// Seed of the world (scenes are a pure function of it and the index).
    #[serde(default)]
    pub world_seed: u64,
    /// Stream only the scenes whose caption states a relation, skipping list captions
    /// ("a red circle and a blue square"), which are true of every layout.
    #[serde(default)]
    pub relation_captions_only: bool,
    /// Where hard-negative images come from.
    #[serde(default)]
    pub hard_images: SyntheticHardImages,
    /// The world's parameters (image size, noise, held-out pairs, …).
    #[serde(default)]
    pub world: WorldConfig,
}

fn default_samples() -> usize {
    8192
}

/// Hard-negative images of the synthetic world (`data.hard_images`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum SyntheticHardImages {
    /// `"none"`: no hard images.
    #[default]
    None,
    /// `{ nearest = K }`: the K nearest scenes by image embedding, re-mined every epoch.
    Nearest(NonZeroUsize),
    /// `{ partners = K }`: the first K scenes of the stream whose captions state this scene's
    /// relation with the arguments exchanged; the counterfactual twin where there is none.
    Partners(NonZeroUsize),
    /// `"twins"`: each scene's counterfactual twin (the related objects exchanged).
    Twins,
}

/// Scenes of the synthetic world's train split.
pub struct SyntheticStream {
    world: WorldConfig,
    seed: u64,
    /// Sample `i` is scene `scenes[i]` of the train split.
    scenes: Vec<u64>,
    hard_images: HardImages,
}

impl SyntheticStream {
    pub fn new(config: &SyntheticConfig) -> Result<SyntheticStream, TrainingError> {
        config.world.validate()?;
        let (world, seed, n) = (&config.world, config.world_seed, config.samples_per_epoch);
        let scenes = match config.relation_captions_only {
            true => synth::relation_caption_indices(Split::Train, n, world, seed),
            false => (0..n as u64).collect(),
        };
        let hard_images = match config.hard_images {
            SyntheticHardImages::None => HardImages::None,
            SyntheticHardImages::Nearest(k) => HardImages::Mine { k },
            SyntheticHardImages::Partners(k) => {
                HardImages::Given(partners_or_twins(&scenes, k.get(), world, seed))
            }
            SyntheticHardImages::Twins => HardImages::Given(
                (0..scenes.len())
                    .map(|i| vec![ExampleRef::Twin(i)])
                    .collect(),
            ),
        };
        Ok(SyntheticStream {
            world: world.clone(),
            seed,
            scenes,
            hard_images,
        })
    }
}

/// Each scene's first `k` partners ([`synth::partner_lists`]), or its twin where it has none.
fn partners_or_twins(
    scenes: &[u64],
    k: usize,
    world: &WorldConfig,
    seed: u64,
) -> Vec<Vec<ExampleRef>> {
    synth::partner_lists(Split::Train, scenes, k, world, seed)
        .into_iter()
        .enumerate()
        .map(|(i, partners)| match partners.is_empty() {
            true => vec![ExampleRef::Twin(i)],
            false => partners.into_iter().map(ExampleRef::Sample).collect(),
        })
        .collect()
}

impl TrainingSource for SyntheticStream {
    fn len(&self) -> usize {
        self.scenes.len()
    }

    fn example(&self, at: ExampleRef) -> Result<Example, TrainingError> {
        let sample = match at {
            ExampleRef::Sample(i) => {
                synth::sample(Split::Train, self.scenes[i], &self.world, self.seed)
            }
            ExampleRef::Twin(i) => {
                synth::twin_sample(Split::Train, self.scenes[i], &self.world, self.seed)
            }
        };
        Ok(Example {
            image: Picture::Rgb(sample.image),
            caption: sample.caption,
            negatives: Vec::new(),
        })
    }

    fn hard_images(&self) -> &HardImages {
        &self.hard_images
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> SyntheticConfig {
        toml::from_str(&format!("samples_per_epoch = 64\n{extra}")).unwrap()
    }

    #[test]
    fn partners_are_samples_of_the_stream_and_twins_fill_the_gaps() {
        let stream = SyntheticStream::new(&config("hard_images = { partners = 2 }")).unwrap();
        let HardImages::Given(lists) = stream.hard_images() else {
            panic!("partners are given lists")
        };
        assert_eq!(lists.len(), 64);
        for (i, list) in lists.iter().enumerate() {
            assert!(!list.is_empty() && list.len() <= 2);
            match list[..] {
                [ExampleRef::Twin(t)] => assert_eq!(t, i),
                _ => assert!(list
                    .iter()
                    .all(|r| matches!(r, ExampleRef::Sample(j) if *j < 64))),
            }
        }
    }

    #[test]
    fn twin_examples_state_the_swapped_caption() {
        let stream = SyntheticStream::new(&config(
            "relation_captions_only = true\nhard_images = \"twins\"",
        ))
        .unwrap();
        let sample = stream.example(ExampleRef::Sample(0)).unwrap();
        let twin = stream.example(ExampleRef::Twin(0)).unwrap();
        assert_ne!(sample.caption, twin.caption);
        assert!(sample.negatives.is_empty());
    }

    #[test]
    fn hard_image_options_are_checked_when_parsed() {
        let zero = toml::from_str::<SyntheticConfig>("hard_images = { partners = 0 }");
        assert!(zero.unwrap_err().to_string().contains("nonzero"));
        let table_only = toml::from_str::<SyntheticConfig>("hard_images = \"table\"");
        let err = table_only.unwrap_err().to_string();
        assert!(err.contains("table") && err.contains("partners"), "{err}");
    }
}
