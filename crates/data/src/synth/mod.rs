//! A synthetic compositional world for training and probing CLIP on a CPU:
//! coloured shapes in spatial relations, small enough to learn at 32 pixels yet
//! built so a bag-of-words model cannot tell "a red circle left of a blue square"
//! from "a blue square left of a red circle".
//!
//! - [`scene`]: the world and its seeded generator (`scene(split, index, cfg, seed)`).
//! - [`render`]: scene → `RgbImage`.
//! - [`caption`]: captions and exact swapped negatives.
//! - [`counterfactual`]: each scene's twin with the related objects exchanged,
//!   a hard-negative image.
//! - [`partners`]: the training scenes that show each caption's relation with the
//!   arguments exchanged, hard-negative images from the stream itself.
//! - [`suites`]: evaluation suites built as [`crate::suite::Suite`].
//! - [`disk`]: the same items written in the ARO file formats.

pub mod caption;
pub mod counterfactual;
pub mod disk;
pub mod partners;
pub mod render;
pub mod scene;
pub mod suites;

use std::path::PathBuf;

use image::RgbImage;

pub use counterfactual::twin_sample;
pub use disk::write_suite_dir;
pub use partners::{partner_lists, relation_caption_indices};
pub use scene::{scene, Colour, Object, Pair, Relation, Scene, Shape, Size, Split, WorldConfig};
pub use suites::{build_suite, suite_names, OrderFn};

/// Errors of the synthetic world: bad configs and names, and file output.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid world config: {0}")]
    BadConfig(String),
    #[error("held-out pair {0:?} is not \"<colour> <shape>\" (colours: red green blue yellow purple white; shapes: circle square triangle cross)")]
    BadPair(String),
    #[error("unknown split {0:?} (expected train, val, test or heldout)")]
    BadSplit(String),
    #[error("unknown synthetic suite {name:?}; known: {known}")]
    UnknownSuite { name: String, known: String },
    #[error("order perturbation returned no captions for {0:?}")]
    EmptyPerturbation(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: encoding PNG: {source}")]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("{path}: encoding JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// One streamed training example.
#[derive(Debug, Clone)]
pub struct SynthSample {
    pub image: RgbImage,
    pub caption: String,
    pub scene: Scene,
}

/// Training example `index` of `split`: a pure function of its arguments, so a
/// trainer can resume at any index. The caption phrasing comes from its own rng
/// stream, so changing caption templates never moves the scenes.
pub fn sample(split: Split, index: u64, cfg: &WorldConfig, seed: u64) -> SynthSample {
    let scene = scene::scene(split, index, cfg, seed);
    let image = render::render(&scene, cfg.image_size, cfg.noise_amplitude);
    let mut rng = scene::rng_for(seed, split, index, 1);
    let caption = caption::caption(&scene, &mut rng);
    SynthSample {
        image,
        caption,
        scene,
    }
}

#[cfg(test)]
mod tests;
