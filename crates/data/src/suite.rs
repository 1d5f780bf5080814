//! The evaluation interface shared by every benchmark: synthetic suites, ARO,
//! SugarCrepe, Winoground, retrieval and zero-shot classification all become one of the suite
//! kinds below, and the trainer scores them the same way (encode each image once, each text
//! once).

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

/// One tag of a group item, for per-tag breakdowns: Winoground's `collapsed_tag` "Relation"
/// is `Tag { axis: "collapsed_tag", value: "Relation" }`; an item may carry several values of
/// one axis (Winoground's space-separated `secondary_tag`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag {
    pub axis: String,
    pub value: String,
}

/// One item of a group suite: several images, several captions, and which caption is true
/// of which image (Winoground: two images, two captions, caption `k` true of image `k`).
///
/// The item is scored by comparing similarities under the truth relation
/// ([`crate::metrics::group`]): its *text* test asks, for every image with both true and
/// false captions, that each true caption score strictly above each false one; its *image*
/// test asks, for every caption with both true and false images, that each true image score
/// strictly above each false one; the *group* test asks both. With one image it is a
/// multiple-choice item with one or more true captions (only a text test).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupItem {
    /// The item's name in its source file (Winoground's `id`, a JSONL line number).
    pub id: String,
    /// Indices into [`GroupSuite::images`]; items may share images.
    pub images: Vec<usize>,
    pub captions: Vec<String>,
    /// `truth[i]`: the indices into [`Self::captions`] of the captions true of image
    /// `images[i]`; every other caption is false of it.
    pub truth: Vec<Vec<usize>>,
    pub tags: Vec<Tag>,
}

impl GroupItem {
    /// Whether caption `caption` is true of the item's image `image` (both local indices).
    pub fn is_true(&self, image: usize, caption: usize) -> bool {
        self.truth[image].contains(&caption)
    }

    /// Checks the item's shape against a suite of `suite_images` images: the error says
    /// what is wrong, for the loader to name the file and line.
    pub fn check(&self, suite_images: usize) -> Result<(), String> {
        if self.images.is_empty() || self.captions.is_empty() {
            return Err("an item needs at least one image and one caption".into());
        }
        if let Some(&bad) = self.images.iter().find(|&&i| i >= suite_images) {
            return Err(format!(
                "image index {bad} out of range ({suite_images} images)"
            ));
        }
        if self.truth.len() != self.images.len() {
            return Err(format!(
                "the truth lists {} images, the item has {}",
                self.truth.len(),
                self.images.len()
            ));
        }
        let n = self.captions.len();
        if let Some(&bad) = self.truth.iter().flatten().find(|&&c| c >= n) {
            return Err(format!("caption index {bad} out of range ({n} captions)"));
        }
        let text_test = (0..self.images.len()).any(|i| {
            let trues = (0..n).filter(|&c| self.is_true(i, c)).count();
            trues > 0 && trues < n
        });
        let image_test = (0..n).any(|c| {
            let trues = (0..self.images.len())
                .filter(|&i| self.is_true(i, c))
                .count();
            trues > 0 && trues < self.images.len()
        });
        if !text_test && !image_test {
            return Err(
                "nothing to compare: no image has both a true and a false caption, \
                 and no caption both a true and a false image"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A suite of group items (Winoground, Synth-Winoground, the generic JSONL format).
#[derive(Debug, Clone)]
pub struct GroupSuite {
    pub name: String,
    pub images: Vec<ImageSource>,
    pub items: Vec<GroupItem>,
}

/// Any evaluation suite.
#[derive(Debug, Clone)]
pub enum Suite {
    Choice(ChoiceSuite),
    Retrieval(RetrievalSuite),
    Classification(ClassificationSuite),
    Group(GroupSuite),
}

impl Suite {
    /// The suite's name as reported.
    pub fn name(&self) -> &str {
        match self {
            Suite::Choice(suite) => &suite.name,
            Suite::Retrieval(suite) => &suite.name,
            Suite::Classification(suite) => &suite.name,
            Suite::Group(suite) => &suite.name,
        }
    }
}
