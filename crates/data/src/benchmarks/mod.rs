//! Loaders for the real benchmark files (ARO, SugarCrepe, SugarCrepe++, VALSE, Karpathy
//! retrieval, zero-shot classification folders).
//!
//! Each loader reads the files in their original schema and produces the shared
//! suite types of [`crate::suite`]. Where the files are: [`layout`] (a data root in the
//! default layout, every path overridable by key; `docs/evaluation.md`).

pub mod classification;
pub mod generic;
pub mod images;
pub mod karpathy;
pub mod layout;
pub mod names;
pub mod order;
pub mod retrieval;
pub mod sugarcrepe;
pub mod sugarcrepe_pp;
pub mod valse;
pub mod vg;
pub mod winoground;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use thiserror::Error;

use crate::suite::Suite;
pub use layout::DataPaths;

/// Produces the four order perturbations of a raw caption (shuffle nouns and
/// adjectives, shuffle the rest, shuffle within trigrams, shuffle trigrams).
pub type Perturber = dyn Fn(&str, &mut ChaCha8Rng) -> Vec<String> + Send + Sync;

/// The five documented seeds of the order sets (the authors' default seed is 1).
pub const DEFAULT_ORDER_SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

/// Every suite name [`load_suite`] accepts, group aliases last.
pub const SUITE_NAMES: [&str; 19] = [
    "vg-relation",
    "vg-attribution",
    "coco-order",
    "flickr30k-order",
    "sugarcrepe",
    "sugarcrepe++",
    "valse",
    "winoground",
    "generic",
    "coco-retrieval",
    "coco-val-retrieval",
    "flickr30k-retrieval",
    "imagenet",
    "imagenet-v2",
    "imagenet-r",
    "imagenet-a",
    "imagenet-sketch",
    "aro",
    "retrieval",
];

#[derive(Debug, Error)]
pub enum BenchmarkError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {message}")]
    Schema { path: PathBuf, message: String },
    #[error("{path}, row {row}: {message}")]
    MalformedRow {
        path: PathBuf,
        row: String,
        message: String,
    },
    #[error(
        "{path}, row {row}: image {image} not found \
         (set skip_missing_images to drop such rows and count them)"
    )]
    MissingImage {
        path: PathBuf,
        row: String,
        image: PathBuf,
    },
    #[error("unknown data path key {key:?}; known: {known}")]
    UnknownPathKey { key: String, known: String },
    #[error(
        "{what} has no path: give a data root (eval.data_root, --data-root) \
         or the path itself (eval.paths.{key}, --data {key}=PATH)"
    )]
    NoPath { key: String, what: String },
    #[error("unknown benchmark suite {name:?}; known: {known}")]
    UnknownSuite { name: String, known: String },
    #[error("{path}, row {row}: the perturber returned {got} captions, expected 4")]
    BadPerturbation {
        path: PathBuf,
        row: String,
        got: usize,
    },
}

/// How to load a suite.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Drop items whose image file is missing (counted in [`LoadReport`])
    /// instead of failing.
    pub skip_missing_images: bool,
    /// Keep `n` items (retrieval: `n` images with all their captions), drawn
    /// with the given seed, for cheap per-epoch evaluation.
    pub subsample: Option<(usize, u64)>,
    /// Seeds of the order sets; empty means [`DEFAULT_ORDER_SEEDS`].
    pub order_seeds: Vec<u64>,
    /// The order-set perturbation function; `None`:
    /// [`crate::negatives::default_order_perturbations`].
    pub perturber: Option<Arc<Perturber>>,
    /// Seed of the classification suites' calibration split.
    pub calibration_seed: u64,
}

impl LoadOptions {
    fn seeds(&self) -> Vec<u64> {
        if self.order_seeds.is_empty() {
            DEFAULT_ORDER_SEEDS.to_vec()
        } else {
            self.order_seeds.clone()
        }
    }
}

/// What happened while loading one suite; never silent about dropped rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// The annotation file read.
    pub source: PathBuf,
    /// Rows (items, or retrieval images) read from the file.
    pub rows: usize,
    /// Rows dropped because their image is missing (`skip_missing_images`).
    pub skipped_missing: usize,
    /// Items (retrieval: images) before subsampling, when subsampled.
    pub subsampled_from: Option<usize>,
}

/// A loaded suite and its load report.
#[derive(Debug, Clone)]
pub struct LoadedSuite {
    pub suite: Suite,
    pub report: LoadReport,
}

/// Loads the named suite (or group alias, or one member such as `valse/existence`, in any
/// spelling of [`names`]) from the data layout `paths`.
/// Returns one entry per produced suite: SugarCrepe gives seven, SugarCrepe++ five, VALSE
/// eleven, an order set one per seed, `aro` the four ARO suites, `retrieval` both retrieval
/// suites.
pub fn load_suite(
    name: &str,
    paths: &DataPaths,
    options: &LoadOptions,
) -> Result<Vec<LoadedSuite>, BenchmarkError> {
    let name = names::canonical(name);
    if let Some((family, member)) = names::member(name) {
        return load_member(family, member, paths, options).map(|suite| vec![suite]);
    }
    match name {
        "vg-relation" => Ok(vec![vg::load_vg(
            vg::VgKind::Relation,
            &paths.get("vg-relation")?,
            &paths.get("vg-images")?,
            options,
        )?]),
        "vg-attribution" => Ok(vec![vg::load_vg(
            vg::VgKind::Attribution,
            &paths.get("vg-attribution")?,
            &paths.get("vg-images")?,
            options,
        )?]),
        "coco-order" | "flickr30k-order" => {
            let perturber = options
                .perturber
                .as_deref()
                .unwrap_or(&crate::negatives::default_order_perturbations);
            let (json, images) = karpathy_paths(name, "test", paths)?;
            order::load_order_suites(name, &json, &images, perturber, &options.seeds(), options)
        }
        "sugarcrepe" => sugarcrepe::load_sugarcrepe(
            &paths.folder_with("sugarcrepe", "add_att.json")?,
            &paths.get("coco-val2017")?,
            options,
        ),
        "sugarcrepe++" => sugarcrepe_pp::load_sugarcrepe_pp(
            &paths.folder_with("sugarcrepe++", "swap_obj.json")?,
            &paths.get("coco-val2017")?,
            options,
        ),
        "valse" => valse::load_valse(paths, options),
        "winoground" => Ok(vec![winoground::load_winoground(
            &paths.folder_with("winoground", winoground::WINOGROUND_EXAMPLES)?,
            options,
        )?]),
        "generic" => paths
            .generic_files()?
            .iter()
            .map(|(name, file)| generic::load_generic(name, file, options))
            .collect(),
        "coco-retrieval" | "flickr30k-retrieval" | "coco-val-retrieval" => {
            let split = if name == "coco-val-retrieval" {
                "val"
            } else {
                "test"
            };
            let (json, images) = karpathy_paths(name, split, paths)?;
            Ok(vec![retrieval::load_retrieval(
                name, &json, &images, split, options,
            )?])
        }
        "imagenet" | "imagenet-v2" | "imagenet-r" | "imagenet-a" | "imagenet-sketch" => {
            let spec = classification::ClassificationSpec {
                name: name.to_string(),
                images: paths.get(name)?,
                names: classification::ClassNames::ImageNet,
                templates: classification::Templates::ImageNet,
                compositions: None,
                ood: None,
            };
            Ok(vec![classification::load_classification(&spec, options)?])
        }
        "aro" => load_all(
            &[
                "vg-relation",
                "vg-attribution",
                "coco-order",
                "flickr30k-order",
            ],
            paths,
            options,
        ),
        "retrieval" => load_all(&["coco-retrieval", "flickr30k-retrieval"], paths, options),
        _ => Err(BenchmarkError::UnknownSuite {
            name: name.into(),
            known: names::known_names(),
        }),
    }
}

/// One member of a family ([`names::member`]).
fn load_member(
    family: &str,
    member: &str,
    paths: &DataPaths,
    options: &LoadOptions,
) -> Result<LoadedSuite, BenchmarkError> {
    match family {
        "sugarcrepe" => {
            let file = format!("{member}.json");
            sugarcrepe::load_sugarcrepe_subset(
                member,
                &paths.folder_with("sugarcrepe", &file)?.join(&file),
                &paths.get("coco-val2017")?,
                options,
            )
        }
        "sugarcrepe++" => {
            let file = format!("{member}.json");
            sugarcrepe_pp::load_sugarcrepe_pp_subset(
                member,
                &paths.folder_with("sugarcrepe++", &file)?.join(&file),
                &paths.get("coco-val2017")?,
                options,
            )
        }
        "valse" => valse::load_valse_piece(member, paths, options),
        _ => unreachable!("names::member knows only the families above"),
    }
}

/// The Karpathy split file and image root of an order or retrieval set.
fn karpathy_paths(
    name: &str,
    split: &str,
    paths: &DataPaths,
) -> Result<(PathBuf, PathBuf), BenchmarkError> {
    let dataset = if name.starts_with("coco") {
        "coco"
    } else {
        "flickr30k"
    };
    let json = paths.get(&format!("{dataset}-{split}"))?;
    let images = paths.karpathy_images(&json, &format!("{dataset}-images"))?;
    Ok((json, images))
}

fn load_all(
    names: &[&str],
    paths: &DataPaths,
    options: &LoadOptions,
) -> Result<Vec<LoadedSuite>, BenchmarkError> {
    let mut out = Vec::new();
    for name in names {
        out.extend(load_suite(name, paths, options)?);
    }
    Ok(out)
}

/// Reads and parses a JSON file, naming the file in any error.
pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value, BenchmarkError> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchmarkError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| BenchmarkError::Json {
        path: path.to_path_buf(),
        source,
    })
}
