//! Image bookkeeping shared by the loaders: one [`ImageSource`] per distinct
//! (file, crop), missing-file policy, and seeded subsampling of choice and group suites.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{BenchmarkError, LoadReport, LoadedSuite};
use crate::suite::{
    Averaging, ChoiceItem, ChoiceSuite, CropBox, Decision, GroupItem, GroupSuite, ImageSource,
    Suite,
};

/// Deduplicates images so that items sharing a file and crop are encoded once.
#[derive(Debug, Default)]
pub struct ImageTable {
    sources: Vec<ImageSource>,
    index: HashMap<(PathBuf, Option<CropBox>), usize>,
}

impl ImageTable {
    /// The index of `(path, crop)`, adding it on first sight.
    pub fn intern(&mut self, path: PathBuf, crop: Option<CropBox>) -> usize {
        if let Some(&i) = self.index.get(&(path.clone(), crop)) {
            return i;
        }
        let i = self.sources.len();
        self.sources.push(ImageSource::File {
            path: path.clone(),
            crop,
        });
        self.index.insert((path, crop), i);
        i
    }

    pub fn into_sources(self) -> Vec<ImageSource> {
        self.sources
    }
}

/// Whether the row's image exists. A missing image is an error naming the
/// annotation file and row, unless `skip` is set: then it is counted.
pub fn image_present(
    image: &Path,
    annotation: &Path,
    row: &str,
    skip: bool,
    report: &mut LoadReport,
) -> Result<bool, BenchmarkError> {
    if image.is_file() {
        return Ok(true);
    }
    if skip {
        report.skipped_missing += 1;
        return Ok(false);
    }
    Err(BenchmarkError::MissingImage {
        path: annotation.to_path_buf(),
        row: row.to_string(),
        image: image.to_path_buf(),
    })
}

/// Sorted indices of `n` of `len` elements drawn with `seed` (all when `n >= len`).
pub fn sample_indices(len: usize, n: usize, seed: u64) -> Vec<usize> {
    if n >= len {
        return (0..len).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, len, n).into_vec();
    picked.sort_unstable();
    picked
}

/// A suite of two-option items `[false caption, true caption]`, right when the true caption
/// scores strictly higher, micro-averaged (SugarCrepe, VALSE), with the sampled items kept.
pub fn pairwise_suite(
    name: String,
    images: ImageTable,
    items: Vec<ChoiceItem>,
    subsample: Option<(usize, u64)>,
    mut report: LoadReport,
) -> LoadedSuite {
    let suite = ChoiceSuite {
        name,
        images: images.into_sources(),
        items,
        decision: Decision::StrictlyHighest,
        averaging: Averaging::Micro,
    };
    let suite = subsample_choice(suite, subsample, &mut report);
    LoadedSuite {
        suite: Suite::Choice(suite),
        report,
    }
}

/// Keeps the sampled items of a choice suite and only the images they use.
pub fn subsample_choice(
    suite: ChoiceSuite,
    subsample: Option<(usize, u64)>,
    report: &mut LoadReport,
) -> ChoiceSuite {
    let Some((n, seed)) = subsample else {
        return suite;
    };
    report.subsampled_from = Some(suite.items.len());
    let keep = sample_indices(suite.items.len(), n, seed);
    let items = keep.into_iter().map(|i| suite.items[i].clone()).collect();
    with_items(suite, items)
}

/// The suite with `items` (indices into its images) and only the images they use,
/// renumbered in order of first use.
pub fn with_items(suite: ChoiceSuite, mut items: Vec<ChoiceItem>) -> ChoiceSuite {
    let mut remap: HashMap<usize, usize> = HashMap::new();
    let mut images = Vec::new();
    for item in &mut items {
        item.image = *remap.entry(item.image).or_insert_with(|| {
            images.push(suite.images[item.image].clone());
            images.len() - 1
        });
    }
    ChoiceSuite {
        images,
        items,
        ..suite
    }
}

/// Keeps the sampled items of a group suite and only the images they use, renumbered in
/// order of first use.
pub fn subsample_group(
    suite: GroupSuite,
    subsample: Option<(usize, u64)>,
    report: &mut LoadReport,
) -> GroupSuite {
    let Some((n, seed)) = subsample else {
        return suite;
    };
    report.subsampled_from = Some(suite.items.len());
    let mut items: Vec<GroupItem> = sample_indices(suite.items.len(), n, seed)
        .into_iter()
        .map(|i| suite.items[i].clone())
        .collect();
    let mut remap: HashMap<usize, usize> = HashMap::new();
    let mut images = Vec::new();
    for image in items.iter_mut().flat_map(|item| item.images.iter_mut()) {
        *image = *remap.entry(*image).or_insert_with(|| {
            images.push(suite.images[*image].clone());
            images.len() - 1
        });
    }
    GroupSuite {
        images,
        items,
        ..suite
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{Averaging, ChoiceItem, Decision};

    fn item(image: usize) -> ChoiceItem {
        ChoiceItem {
            image,
            options: vec!["a".into(), "b".into()],
            true_index: 1,
            group: "g".into(),
        }
    }

    #[test]
    fn intern_dedupes_same_file_and_crop_only() {
        let mut t = ImageTable::default();
        let crop = Some(CropBox {
            x: 0,
            y: 0,
            w: 2,
            h: 2,
        });
        let a = t.intern("a.jpg".into(), crop);
        let b = t.intern("a.jpg".into(), None);
        let c = t.intern("a.jpg".into(), crop);
        assert_eq!((a, b, c), (0, 1, 0));
        assert_eq!(t.into_sources().len(), 2);
    }

    #[test]
    fn subsample_keeps_n_items_and_only_their_images() {
        let suite = ChoiceSuite {
            name: "s".into(),
            images: (0..10)
                .map(|i| ImageSource::File {
                    path: format!("{i}.png").into(),
                    crop: None,
                })
                .collect(),
            items: (0..10).map(item).collect(),
            decision: Decision::StrictlyHighest,
            averaging: Averaging::Micro,
        };
        let mut report = LoadReport::default();
        let small = subsample_choice(suite.clone(), Some((4, 7)), &mut report);
        assert_eq!(small.items.len(), 4);
        assert_eq!(small.images.len(), 4);
        assert_eq!(report.subsampled_from, Some(10));
        let again = subsample_choice(suite, Some((4, 7)), &mut LoadReport::default());
        let paths = |s: &ChoiceSuite| format!("{:?}", s.images);
        assert_eq!(paths(&small), paths(&again), "same seed, same sample");
    }
}
