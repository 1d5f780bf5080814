//! COCO-Order and Flickr30k-Order (ARO): every test caption against four
//! word-order perturbations of itself. One suite per seed, since the authors
//! average five random runs.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::images::{image_present, sample_indices, with_items, ImageTable};
use super::karpathy::read_karpathy_test;
use super::{BenchmarkError, LoadOptions, LoadReport, LoadedSuite, Perturber};
use crate::suite::{Averaging, ChoiceItem, ChoiceSuite, Decision, Suite};

/// Captions keep at most this many words after cleaning.
pub const MAX_WORDS: usize = 30;

/// The ARO caption cleaner: lower-case; each of `. ! " ( ) * # : ; ~` becomes a
/// space; runs of whitespace collapse to one space; strip; first 30 words.
pub fn clean_caption(caption: &str) -> String {
    let lowered: String = caption
        .to_lowercase()
        .chars()
        .map(|c| match c {
            '.' | '!' | '"' | '(' | ')' | '*' | '#' | ':' | ';' | '~' => ' ',
            other => other,
        })
        .collect();
    lowered
        .split_whitespace()
        .take(MAX_WORDS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One caption of the order set with the image it belongs to.
struct OrderCaption {
    image: usize,
    /// `"image <row> caption <k>"` for errors.
    row: String,
    /// Position among all test captions: the perturbation stream.
    global: u64,
    raw: String,
}

/// Loads an order set once per seed: suites named `<name>@seed<k>`, options
/// `[original, p1, p2, p3, p4]` (all cleaned), true index 0, first-argmax, micro.
pub fn load_order_suites(
    name: &str,
    karpathy: &Path,
    image_root: &Path,
    perturber: &Perturber,
    seeds: &[u64],
    options: &LoadOptions,
) -> Result<Vec<LoadedSuite>, BenchmarkError> {
    let mut report = LoadReport {
        source: karpathy.to_path_buf(),
        ..LoadReport::default()
    };
    let (images, captions) = collect_captions(karpathy, image_root, options, &mut report)?;
    let captions = subsample_captions(captions, options.subsample, &mut report);
    seeds
        .iter()
        .map(|&seed| {
            let items = perturb_all(&captions, karpathy, perturber, seed)?;
            let suite = ChoiceSuite {
                name: format!("{name}@seed{seed}"),
                images: images.clone(),
                items: Vec::new(),
                decision: Decision::FirstArgmax,
                averaging: Averaging::Micro,
            };
            // After subsampling some images may have no caption left: keep only used ones.
            Ok(LoadedSuite {
                suite: Suite::Choice(with_items(suite, items)),
                report: report.clone(),
            })
        })
        .collect()
}

fn collect_captions(
    karpathy: &Path,
    image_root: &Path,
    options: &LoadOptions,
    report: &mut LoadReport,
) -> Result<(Vec<crate::suite::ImageSource>, Vec<OrderCaption>), BenchmarkError> {
    let test = read_karpathy_test(karpathy, image_root)?;
    let mut table = ImageTable::default();
    let mut captions = Vec::new();
    let mut global = 0u64;
    for image in test {
        let n = image.captions.len() as u64;
        report.rows += image.captions.len();
        let row = format!("image {}", image.row);
        // A missing image drops all its captions, so count captions, not images.
        let mut missing = LoadReport::default();
        if !image_present(
            &image.path,
            karpathy,
            &row,
            options.skip_missing_images,
            &mut missing,
        )? {
            report.skipped_missing += image.captions.len();
            global += n;
            continue;
        }
        let index = table.intern(image.path.clone(), None);
        for (k, raw) in image.captions.into_iter().enumerate() {
            captions.push(OrderCaption {
                image: index,
                row: format!("{row} caption {k}"),
                global,
                raw,
            });
            global += 1;
        }
    }
    Ok((table.into_sources(), captions))
}

fn subsample_captions(
    captions: Vec<OrderCaption>,
    subsample: Option<(usize, u64)>,
    report: &mut LoadReport,
) -> Vec<OrderCaption> {
    let Some((n, seed)) = subsample else {
        return captions;
    };
    report.subsampled_from = Some(captions.len());
    let keep = sample_indices(captions.len(), n, seed);
    let mut slots: Vec<Option<OrderCaption>> = captions.into_iter().map(Some).collect();
    keep.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Perturbs every caption. Each caption draws from its own ChaCha8 stream
/// (`seed`, stream = its position among all test captions), so a caption gets
/// the same perturbations whatever subsample it lands in.
fn perturb_all(
    captions: &[OrderCaption],
    karpathy: &Path,
    perturber: &Perturber,
    seed: u64,
) -> Result<Vec<ChoiceItem>, BenchmarkError> {
    captions
        .iter()
        .map(|c| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(c.global);
            let perturbed = perturber(&c.raw, &mut rng);
            if perturbed.len() != 4 {
                return Err(BenchmarkError::BadPerturbation {
                    path: karpathy.to_path_buf(),
                    row: c.row.clone(),
                    got: perturbed.len(),
                });
            }
            let mut options = vec![clean_caption(&c.raw)];
            options.extend(perturbed.iter().map(|p| clean_caption(p)));
            Ok(ChoiceItem {
                image: c.image,
                options,
                true_index: 0,
                group: "all".into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaner_lowercases_strips_punctuation_and_collapses_spaces() {
        assert_eq!(
            clean_caption("  A man (smiling) rides a \"Horse\"!\n"),
            "a man smiling rides a horse"
        );
        assert_eq!(clean_caption("x:y;z~w#v*u"), "x y z w v u");
        // Commas, apostrophes and hyphens are kept, as in the reference.
        assert_eq!(
            clean_caption("A dog's ball, well-worn."),
            "a dog's ball, well-worn"
        );
    }

    #[test]
    fn cleaner_keeps_the_first_thirty_words() {
        let long: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let cleaned = clean_caption(&long.join(" "));
        assert_eq!(cleaned.split(' ').count(), 30);
        assert!(cleaned.ends_with("w29"));
    }
}
