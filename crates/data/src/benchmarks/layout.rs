//! Where each benchmark's files are: default places under a data root, each overridable by a
//! named key (`[eval.paths]` in a run file, `--data KEY=PATH` on the command line), so that
//! downloads keep the names their sources gave them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::generic::GENERIC_PREFIX;
use super::BenchmarkError;

/// A named path: its key, what it is, and its default places under the data root, tried in
/// order (the first that exists wins; none existing, the first is named in the error).
struct Entry {
    key: &'static str,
    what: &'static str,
    defaults: &'static [&'static str],
}

const ENTRIES: &[Entry] = &[
    Entry {
        key: "vg-relation",
        what: "VG-Relation annotations",
        defaults: &["aro/visual_genome_relation.json"],
    },
    Entry {
        key: "vg-attribution",
        what: "VG-Attribution annotations",
        defaults: &["aro/visual_genome_attribution.json"],
    },
    Entry {
        key: "vg-images",
        what: "the VG-Relation / VG-Attribution image folder",
        defaults: &["aro/images"],
    },
    Entry {
        key: "coco-test",
        what: "COCO's Karpathy test split (Karpathy's file or the ARO code's)",
        defaults: &["coco/dataset_coco.json", "coco/coco_karpathy_test.json"],
    },
    Entry {
        key: "coco-val",
        what: "COCO's Karpathy val split (Karpathy's file or the ARO code's)",
        defaults: &["coco/dataset_coco.json", "coco/coco_karpathy_val.json"],
    },
    Entry {
        key: "coco-images",
        what: "the COCO image root (Karpathy's file: its `filepath`s are under it)",
        defaults: &["coco"],
    },
    Entry {
        key: "coco-val2017",
        what: "COCO 2017 val images (SugarCrepe's)",
        defaults: &["coco/val2017"],
    },
    Entry {
        key: "flickr30k-test",
        what: "Flickr30k's Karpathy test split (Karpathy's file or the ARO code's)",
        defaults: &[
            "flickr30k/dataset_flickr30k.json",
            "flickr30k/flickr30k_test.json",
        ],
    },
    Entry {
        key: "flickr30k-images",
        what: "the Flickr30k image folder (Karpathy's file: the images themselves)",
        defaults: &["flickr30k/images"],
    },
    Entry {
        key: "sugarcrepe",
        what: "SugarCrepe's seven JSON files (its repository keeps them in `data/`)",
        defaults: &["sugarcrepe", "sugarcrepe/data"],
    },
    Entry {
        key: "sugarcrepe++",
        what: "SugarCrepe++'s five JSON files (its repository keeps them in `data/`)",
        defaults: &["sugarcrepe++", "sugarcrepe++/data"],
    },
    Entry {
        key: "valse",
        what: "VALSE's eleven piece files (its repository keeps them in `data/`)",
        defaults: &["valse", "valse/data"],
    },
    Entry {
        key: "valse-images-visual7w",
        what: "Visual7W images (VALSE existence, counting)",
        defaults: &["valse/images/visual7w", "visual7w/images"],
    },
    Entry {
        key: "valse-images-coco2017",
        what: "COCO 2017 val images (VALSE plurals, relations)",
        defaults: &["valse/images/coco2017", "coco/val2017"],
    },
    Entry {
        key: "valse-images-swig",
        what: "SWiG images (VALSE action replacement, actant swap)",
        defaults: &["valse/images/swig", "swig/images_512"],
    },
    Entry {
        key: "valse-images-visdial",
        what: "VisDial v1.0 images (VALSE coreference): COCO 2014 and VisualDialog_val2018, \
               directly or in train2014/, val2014/, VisualDialog_val2018/",
        defaults: &["valse/images/visdial", "visdial"],
    },
    Entry {
        key: "valse-images-foilit",
        what: "COCO 2014 val images (VALSE foil-it)",
        defaults: &["valse/images/foilit", "coco/val2014"],
    },
    Entry {
        key: "winoground",
        what: "Winoground's examples.jsonl and images/ (its dataset repository's `data/`, \
               images.zip unzipped there)",
        defaults: &["winoground", "winoground/data"],
    },
    Entry {
        key: "imagenet",
        what: "ImageNet val as class folders (WordNet ids)",
        defaults: &["imagenet/val"],
    },
    Entry {
        key: "imagenet-v2",
        what: "ImageNet-V2 (folders 0..999)",
        defaults: &["imagenet-v2"],
    },
    Entry {
        key: "imagenet-r",
        what: "ImageNet-R (WordNet id folders)",
        defaults: &["imagenet-r"],
    },
    Entry {
        key: "imagenet-a",
        what: "ImageNet-A (WordNet id folders)",
        defaults: &["imagenet-a"],
    },
    Entry {
        key: "imagenet-sketch",
        what: "ImageNet-Sketch (WordNet id folders)",
        defaults: &["imagenet-sketch"],
    },
];

/// The data root and per-key overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataPaths {
    root: Option<PathBuf>,
    overrides: BTreeMap<String, PathBuf>,
}

impl DataPaths {
    /// Everything in the default layout under `root`.
    pub fn root(root: impl Into<PathBuf>) -> DataPaths {
        DataPaths {
            root: Some(root.into()),
            overrides: BTreeMap::new(),
        }
    }

    /// A root (optional when every needed path is overridden) and overrides, whose keys must
    /// be known ([`path_keys`]).
    pub fn new(
        root: Option<PathBuf>,
        overrides: BTreeMap<String, PathBuf>,
    ) -> Result<DataPaths, BenchmarkError> {
        let known = |k: &str| entry(k).is_some() || generic_name(k).is_some();
        if let Some(key) = overrides.keys().find(|k| !known(k)) {
            return Err(BenchmarkError::UnknownPathKey {
                key: key.clone(),
                known: format!("{}, {GENERIC_PREFIX}:NAME", path_keys().join(", ")),
            });
        }
        Ok(DataPaths { root, overrides })
    }

    /// The path of `key`: its override, else the first of its defaults that exists under the
    /// root (or the first default, for the error that follows).
    pub fn get(&self, key: &str) -> Result<PathBuf, BenchmarkError> {
        let entry = entry(key).expect("the loaders ask for known keys");
        if let Some(path) = self.overrides.get(key) {
            return Ok(path.clone());
        }
        let root = self.root.as_ref().ok_or_else(|| BenchmarkError::NoPath {
            key: key.to_string(),
            what: entry.what.to_string(),
        })?;
        let candidates: Vec<PathBuf> = entry.defaults.iter().map(|d| root.join(d)).collect();
        Ok(candidates
            .iter()
            .find(|p| p.exists())
            .unwrap_or(&candidates[0])
            .clone())
    }

    /// A folder holding `file`: the override, else the first default folder containing it.
    pub fn folder_with(&self, key: &str, file: &str) -> Result<PathBuf, BenchmarkError> {
        let entry = entry(key).expect("the loaders ask for known keys");
        if self.overrides.contains_key(key) || self.root.is_none() {
            return self.get(key);
        }
        let root = self.root.as_ref().expect("checked");
        let candidates: Vec<PathBuf> = entry.defaults.iter().map(|d| root.join(d)).collect();
        Ok(candidates
            .iter()
            .find(|p| p.join(file).is_file())
            .unwrap_or(&candidates[0])
            .clone())
    }

    /// The image root of a Karpathy split file: the `images_key` override; else, for the ARO
    /// code's per-split files, the file's own folder (their image paths start there, as the
    /// ARO code's `root_dir`); else the key's default.
    pub fn karpathy_images(
        &self,
        split_file: &Path,
        images_key: &str,
    ) -> Result<PathBuf, BenchmarkError> {
        let karpathy_own = split_file
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("dataset_"));
        if self.overrides.contains_key(images_key) || karpathy_own {
            return self.get(images_key);
        }
        Ok(split_file.parent().unwrap_or(Path::new(".")).to_path_buf())
    }
}

impl DataPaths {
    /// The generic-format suites (`generic:NAME` keys, docs/evaluation.md) by name: every
    /// `NAME.jsonl` in `<root>/generic/`, then every `generic:NAME` path, which wins over a
    /// file of the same name. An error when there is none.
    pub fn generic_files(&self) -> Result<BTreeMap<String, PathBuf>, BenchmarkError> {
        let mut files = BTreeMap::new();
        if let Some(folder) = self.root.as_ref().map(|root| root.join(GENERIC_PREFIX)) {
            if folder.is_dir() {
                let listing = std::fs::read_dir(&folder).map_err(|source| BenchmarkError::Io {
                    path: folder.clone(),
                    source,
                })?;
                for path in listing.flatten().map(|e| e.path()) {
                    if path.extension().is_some_and(|e| e == "jsonl") {
                        if let Some(stem) = path.file_stem() {
                            files.insert(stem.to_string_lossy().into_owned(), path);
                        }
                    }
                }
            }
        }
        for (key, path) in &self.overrides {
            if let Some(name) = generic_name(key) {
                files.insert(name.to_string(), path.clone());
            }
        }
        if files.is_empty() {
            return Err(BenchmarkError::NoPath {
                key: format!("{GENERIC_PREFIX}:NAME"),
                what: format!(
                    "suite {GENERIC_PREFIX} (NAME.jsonl files in <data root>/{GENERIC_PREFIX}/)"
                ),
            });
        }
        Ok(files)
    }
}

/// `NAME` of a `generic:NAME` key.
fn generic_name(key: &str) -> Option<&str> {
    key.strip_prefix(GENERIC_PREFIX)?
        .strip_prefix(':')
        .filter(|name| !name.is_empty())
}

fn entry(key: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.key == key)
}

/// Every key a path can be given under.
pub fn path_keys() -> Vec<&'static str> {
    ENTRIES.iter().map(|e| e.key).collect()
}

/// `KEY  default  what` lines for help texts and docs.
pub fn describe_keys() -> String {
    let generic = (
        format!("{GENERIC_PREFIX}:NAME"),
        format!("{GENERIC_PREFIX}/NAME.jsonl"),
        "a file in the generic format, the suite generic/NAME",
    );
    ENTRIES
        .iter()
        .map(|e| (e.key.to_string(), e.defaults.join(" | "), e.what))
        .chain([generic])
        .map(|(key, defaults, what)| format!("{key:<18} {defaults:<40} {what}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_files_come_from_the_root_folder_and_from_keys() {
        let dir = std::env::temp_dir().join(format!("negclip-generic-keys-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("generic")).unwrap();
        for name in ["crepe.jsonl", "vlc.jsonl", "notes.txt"] {
            std::fs::write(dir.join("generic").join(name), "").unwrap();
        }
        let paths = DataPaths::new(
            Some(dir.clone()),
            BTreeMap::from([
                ("generic:vlc".into(), "/elsewhere/vlc.jsonl".into()),
                ("generic:mine".into(), "mine.jsonl".into()),
            ]),
        )
        .unwrap();
        let files = paths.generic_files().unwrap();
        assert_eq!(
            files,
            BTreeMap::from([
                ("crepe".to_string(), dir.join("generic/crepe.jsonl")),
                ("mine".to_string(), PathBuf::from("mine.jsonl")),
                ("vlc".to_string(), PathBuf::from("/elsewhere/vlc.jsonl")),
            ])
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let none = DataPaths::default()
            .generic_files()
            .unwrap_err()
            .to_string();
        assert!(none.contains("generic:NAME"), "{none}");
        let empty = DataPaths::new(None, BTreeMap::from([("generic:".into(), "x".into())]));
        assert!(empty.unwrap_err().to_string().contains("generic:NAME"));
    }

    #[test]
    fn unknown_keys_are_refused_with_the_known_ones() {
        let err = DataPaths::new(None, BTreeMap::from([("coco".into(), "x".into())]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"coco\"") && err.contains("coco-test"),
            "{err}"
        );
    }

    #[test]
    fn overrides_win_and_defaults_fall_back_in_order() {
        let dir = std::env::temp_dir().join(format!("negclip-layout-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("coco")).unwrap();
        std::fs::create_dir_all(dir.join("sugarcrepe/data")).unwrap();
        std::fs::write(dir.join("sugarcrepe/data/add_att.json"), "{}").unwrap();
        let paths = DataPaths::root(&dir);
        // Neither COCO file exists: the first default is named.
        assert_eq!(
            paths.get("coco-test").unwrap(),
            dir.join("coco/dataset_coco.json")
        );
        std::fs::write(dir.join("coco/coco_karpathy_test.json"), "[]").unwrap();
        let test = paths.get("coco-test").unwrap();
        assert_eq!(test, dir.join("coco/coco_karpathy_test.json"));
        // The ARO code's file reads images from its own folder.
        assert_eq!(
            paths.karpathy_images(&test, "coco-images").unwrap(),
            dir.join("coco")
        );
        assert_eq!(
            paths.folder_with("sugarcrepe", "add_att.json").unwrap(),
            dir.join("sugarcrepe/data")
        );
        let custom = DataPaths::new(
            Some(dir.clone()),
            BTreeMap::from([("coco-test".into(), "/elsewhere/test.json".into())]),
        )
        .unwrap();
        assert_eq!(
            custom.get("coco-test").unwrap(),
            PathBuf::from("/elsewhere/test.json")
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let err = DataPaths::default()
            .get("vg-images")
            .unwrap_err()
            .to_string();
        assert!(err.contains("vg-images"), "{err}");
    }
}
