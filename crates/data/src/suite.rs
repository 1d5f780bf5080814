//! The evaluation interface shared by every benchmark: synthetic suites, ARO,
//! SugarCrepe, retrieval and zero-shot classification all become one of the suite kinds below, and the
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// A zero-shot classification suite: labelled images, class names, and the prompt templates
/// that turn a class name into text (several templates form an ensemble whose text
/// embeddings are averaged, as CLIP does for ImageNet).
#[derive(Debug, Clone)]
pub struct ClassificationSuite {
    pub name: String,
    pub images: Vec<ImageSource>,
    /// `labels[i]` is image `i`'s class, an index into [`Self::classes`].
    pub labels: Vec<usize>,
    /// Display names, the text put into the templates, in label order.
    pub classes: Vec<String>,
    /// Prompt templates, each with one `{}` where the class name goes.
    pub templates: Vec<String>,
    /// Attribute–object metrics, when the classes are compositions.
    pub compositions: Option<Compositions>,
    /// Out-of-distribution images scored against the same classes; empty: no OOD metrics.
    pub ood: Vec<ImageSource>,
    /// Seed of the split that fits the calibration temperature on one part of the items
    /// and measures it on the other.
    pub calibration_seed: u64,
}

/// Classes named "attribute object" ("red circle"): each class's two parts, and which
/// compositions training saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Compositions {
    /// `(attribute, object)` per class: the display name split at its first space.
    pub parts: Vec<(String, String)>,
    /// Per class: seen in training; `None` when no list of seen compositions was given.
    pub seen: Option<Vec<bool>>,
}

impl Compositions {
    /// Splits each class name at its first space; a name without one is an error
    /// returned as that name.
    pub fn from_names(classes: &[String], seen: Option<Vec<bool>>) -> Result<Self, String> {
        let parts = classes
            .iter()
            .map(|name| {
                name.split_once(' ')
                    .map(|(a, o)| (a.to_string(), o.to_string()))
                    .ok_or_else(|| name.clone())
            })
            .collect::<Result<_, _>>()?;
        Ok(Compositions { parts, seen })
    }
}

/// Any evaluation suite.
#[derive(Debug, Clone)]
pub enum Suite {
    Choice(ChoiceSuite),
    Retrieval(RetrievalSuite),
    Classification(ClassificationSuite),
}

impl Suite {
    /// The suite's name as reported.
    pub fn name(&self) -> &str {
        match self {
            Suite::Choice(suite) => &suite.name,
            Suite::Retrieval(suite) => &suite.name,
            Suite::Classification(suite) => &suite.name,
        }
    }
}
