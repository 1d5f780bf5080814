//! Image–text retrieval on the Karpathy test splits (COCO 5k, Flickr30k 1k), and on COCO's
//! Karpathy val split (5k), which NegCLIP uses to pick its best epoch.

use std::path::Path;

use super::images::{image_present, sample_indices, ImageTable};
use super::karpathy::read_karpathy_split;
use super::order::clean_caption;
use super::{BenchmarkError, LoadOptions, LoadReport, LoadedSuite};
use crate::suite::{RetrievalSuite, Suite};

/// Loads one split of a Karpathy JSON. Captions go through the ARO caption
/// cleaner, as ARO's own retrieval datasets do; subsampling keeps `n` images
/// with all their captions.
pub fn load_retrieval(
    name: &str,
    karpathy: &Path,
    image_root: &Path,
    split: &str,
    options: &LoadOptions,
) -> Result<LoadedSuite, BenchmarkError> {
    let mut test = read_karpathy_split(karpathy, image_root, split)?;
    let mut report = LoadReport {
        source: karpathy.to_path_buf(),
        rows: test.len(),
        ..LoadReport::default()
    };
    let mut present = Vec::with_capacity(test.len());
    for image in test.drain(..) {
        let row = format!("image {}", image.row);
        if image_present(
            &image.path,
            karpathy,
            &row,
            options.skip_missing_images,
            &mut report,
        )? {
            present.push(image);
        }
    }
    if let Some((n, seed)) = options.subsample {
        report.subsampled_from = Some(present.len());
        let keep = sample_indices(present.len(), n, seed);
        present = keep.into_iter().map(|i| present[i].clone()).collect();
    }
    let mut table = ImageTable::default();
    let mut captions = Vec::new();
    let mut caption_image = Vec::new();
    for image in present {
        let index = table.intern(image.path, None);
        for caption in image.captions {
            captions.push(clean_caption(&caption));
            caption_image.push(index);
        }
    }
    Ok(LoadedSuite {
        suite: Suite::Retrieval(RetrievalSuite {
            name: name.to_string(),
            images: table.into_sources(),
            captions,
            caption_image,
        }),
        report,
    })
}
