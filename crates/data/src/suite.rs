//! The evaluation interface shared by every benchmark: synthetic suites, ARO,
//! SugarCrepe and retrieval all become one of the two suite kinds below, and the
//! trainer scores them the same way (encode each image once, each text once).

use std::path::PathBuf;
use std::sync::Arc;

/// Where an item's image comes from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// A file on disk, optionally cropped to a pixel box before preprocessing
    /// (VG-Relation / VG-Attribution crop to the annotated box).
    File {
        path: PathBuf,
        crop: Option<CropBox>,
    },
    /// An image already in memory (synthetic scenes streamed from the generator).
    Memory(Arc<image::RgbImage>),
}

/// A crop box in pixels: `(x, y, x + w, y + h)` as the ARO loader crops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// How the scores of one item's caption options decide correctness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Correct iff the true option scores strictly above every other option
    /// (VG-Relation, VG-Attribution, SugarCrepe: a tie is wrong).
    StrictlyHighest,
    /// Correct iff the true option is the first maximum, numpy-argmax style
    /// (COCO-Order / Flickr30k-Order: ties go to the lower index).
    FirstArgmax,
}

/// How per-item results are averaged into the suite's headline number.
#[derive(Debug, Clone, PartialEq)]
pub enum Averaging {
    /// Plain mean over items.
    Micro,
    /// Mean of per-group accuracies, dropping the listed groups and any group with
    /// fewer than `min_items` items (VG-R, VG-A).
    Macro {
        excluded: Vec<String>,
        min_items: usize,
    },
}

/// One multiple-choice item: an image and caption options, one of them true.
#[derive(Debug, Clone)]
pub struct ChoiceItem {
    /// Index into [`ChoiceSuite::images`]; several items may share one image.
    pub image: usize,
    pub options: Vec<String>,
    pub true_index: usize,
    /// Group for macro averaging (relation name, attribute pair, subset).
    pub group: String,
}

/// A multiple-choice suite (ARO, SugarCrepe, synthetic suites).
#[derive(Debug, Clone)]
pub struct ChoiceSuite {
    pub name: String,
    pub images: Vec<ImageSource>,
    pub items: Vec<ChoiceItem>,
    pub decision: Decision,
    pub averaging: Averaging,
}

/// An image–text retrieval suite: each caption belongs to one image.
#[derive(Debug, Clone)]
pub struct RetrievalSuite {
    pub name: String,
    pub images: Vec<ImageSource>,
    pub captions: Vec<String>,
    /// `caption_image[c]` is the index of caption `c`'s image.
    pub caption_image: Vec<usize>,
}

/// Any evaluation suite.
#[derive(Debug, Clone)]
pub enum Suite {
    Choice(ChoiceSuite),
    Retrieval(RetrievalSuite),
}
