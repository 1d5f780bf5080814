//! Zero-shot classification suites from the files users have: an image folder with one
//! sub-folder per class (torchvision's `ImageFolder` layout) or a CSV / JSONL list of
//! `path,label`; class names from the folder names or labels, CLIP's ImageNet names, or a
//! file; prompt templates (one, or an ensemble); optionally attribute–object compositions with
//! the ones training saw, and a folder of out-of-distribution images.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::images::sample_indices;
use super::{BenchmarkError, LoadOptions, LoadReport, LoadedSuite};
use crate::suite::{ClassificationSuite, Compositions, ImageSource, Suite};

/// CLIP's 1000 ImageNet class names, in class-index order (from `open_clip_torch`, MIT).
const IMAGENET_CLASSNAMES: &str = include_str!("../../assets/imagenet_classnames.txt");
/// The WordNet ids of the same classes, in the same order (from `timm`, Apache-2.0).
const IMAGENET_WNIDS: &str = include_str!("../../assets/imagenet_wnids.txt");
/// CLIP's 80 ImageNet prompt templates (from `open_clip_torch`, MIT).
const IMAGENET_TEMPLATES: &str = include_str!("../../assets/imagenet_templates.txt");
/// The single template when none is named.
pub const SIMPLE_TEMPLATE: &str = "a photo of a {}.";

/// Extensions read as images (case-insensitive), as torchvision's `ImageFolder`.
const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "webp"];

/// Where a class's display name (the text put into the prompts) comes from.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum ClassNames {
    /// `"keys"`: the folder name or label, `_` read as a space (`red_car` → "red car").
    Keys,
    /// `"imagenet"`: keys are WordNet ids (`n01440764`) or class indices (`0`…`999`, as
    /// ImageNet-V2's folders), named with CLIP's ImageNet class names.
    ImageNet,
    /// Any other string: a file of `key<TAB>name` lines.
    File(PathBuf),
}

impl From<String> for ClassNames {
    fn from(text: String) -> Self {
        match text.as_str() {
            "keys" => ClassNames::Keys,
            "imagenet" => ClassNames::ImageNet,
            _ => ClassNames::File(text.into()),
        }
    }
}

/// The prompt templates.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum Templates {
    /// `"imagenet"`: CLIP's 80 ImageNet templates, an ensemble.
    ImageNet,
    /// A string containing `{}`: that one template (`"a photo of a {}."`).
    One(String),
    /// Any other string: a file with one template per line (several form an ensemble).
    File(PathBuf),
}

impl From<String> for Templates {
    fn from(text: String) -> Self {
        if text == "imagenet" {
            Templates::ImageNet
        } else if text.contains("{}") {
            Templates::One(text)
        } else {
            Templates::File(text.into())
        }
    }
}

impl From<ClassNames> for String {
    fn from(names: ClassNames) -> String {
        match names {
            ClassNames::Keys => "keys".into(),
            ClassNames::ImageNet => "imagenet".into(),
            ClassNames::File(path) => path.display().to_string(),
        }
    }
}

impl From<Templates> for String {
    fn from(templates: Templates) -> String {
        match templates {
            Templates::ImageNet => "imagenet".into(),
            Templates::One(template) => template,
            Templates::File(path) => path.display().to_string(),
        }
    }
}

fn default_names() -> ClassNames {
    ClassNames::Keys
}

fn default_templates() -> Templates {
    Templates::One(SIMPLE_TEMPLATE.into())
}

/// Attribute–object metrics for classes named "attribute object".
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CompositionSpec {
    /// A file listing the compositions training saw, one display name (or key) per line;
    /// without it only attribute and object accuracy are reported.
    pub seen: Option<PathBuf>,
}

/// One classification suite as a run file (`[[eval.classification]]`) describes it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClassificationSpec {
    /// The suite's name in reports.
    pub name: String,
    /// An `ImageFolder` root, or a `.csv` (`path,label` header) or `.jsonl` file of
    /// `{"path", "label"}` objects; relative image paths are read from the list's folder.
    pub images: PathBuf,
    #[serde(default = "default_names")]
    pub names: ClassNames,
    #[serde(default = "default_templates")]
    pub templates: Templates,
    pub compositions: Option<CompositionSpec>,
    /// A folder of out-of-distribution images (searched recursively).
    pub ood: Option<PathBuf>,
}

/// Loads a classification suite. A seeded subsample (`options.subsample`) keeps `n` images
/// and `n` OOD images; the calibration split takes `options.calibration_seed`.
pub fn load_classification(
    spec: &ClassificationSpec,
    options: &LoadOptions,
) -> Result<LoadedSuite, BenchmarkError> {
    let listed = list_images(&spec.images)?;
    let keys = class_keys(&listed);
    let classes = display_names(&keys, &spec.names, &spec.images)?;
    let index: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut report = LoadReport {
        source: spec.images.clone(),
        rows: listed.len(),
        ..LoadReport::default()
    };
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (row, (path, key)) in listed.iter().enumerate() {
        let row = row.to_string();
        if super::images::image_present(
            path,
            &spec.images,
            &row,
            options.skip_missing_images,
            &mut report,
        )? {
            images.push(file(path));
            labels.push(index[key.as_str()]);
        }
    }
    let mut ood = match &spec.ood {
        Some(dir) => walk_images(dir)?.iter().map(|p| file(p)).collect(),
        None => Vec::new(),
    };
    if let Some((n, seed)) = options.subsample {
        report.subsampled_from = Some(images.len());
        let keep = sample_indices(images.len(), n, seed);
        images = keep.iter().map(|&i| images[i].clone()).collect();
        labels = keep.iter().map(|&i| labels[i]).collect();
        ood = sample_indices(ood.len(), n, seed)
            .into_iter()
            .map(|i| ood[i].clone())
            .collect();
    }
    let compositions = match &spec.compositions {
        Some(c) => Some(compositions(c, &keys, &classes, &spec.images)?),
        None => None,
    };
    let suite = ClassificationSuite {
        name: spec.name.clone(),
        images,
        labels,
        classes,
        templates: templates(&spec.templates)?,
        compositions,
        ood,
        calibration_seed: options.calibration_seed,
    };
    Ok(LoadedSuite {
        suite: Suite::Classification(suite),
        report,
    })
}

fn file(path: &Path) -> ImageSource {
    ImageSource::File {
        path: path.to_path_buf(),
        crop: None,
    }
}

/// `(image path, class key)` in item order: class folders then files, both sorted (an
/// `ImageFolder`), or the list's row order.
fn list_images(source: &Path) -> Result<Vec<(PathBuf, String)>, BenchmarkError> {
    let extension = source
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("csv") => read_csv(source),
        Some("jsonl") => read_jsonl(source),
        _ if source.is_dir() => read_image_folder(source),
        _ => Err(BenchmarkError::Schema {
            path: source.to_path_buf(),
            message: "expected a folder with one sub-folder per class, a .csv or a .jsonl".into(),
        }),
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> BenchmarkError + '_ {
    move |source| BenchmarkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Entries of a folder sorted by name (byte order, as Python's `sorted(os.scandir(...))`).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, BenchmarkError> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error(dir))?;
    entries.sort();
    Ok(entries)
}

fn is_image(path: &Path) -> bool {
    path.is_file()
        && path.extension().is_some_and(|e| {
            IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
        })
}

fn read_image_folder(root: &Path) -> Result<Vec<(PathBuf, String)>, BenchmarkError> {
    let mut out = Vec::new();
    for class_dir in sorted_entries(root)?.into_iter().filter(|p| p.is_dir()) {
        let key = class_dir
            .file_name()
            .expect("a read_dir entry has a name")
            .to_string_lossy()
            .into_owned();
        for path in sorted_entries(&class_dir)?
            .into_iter()
            .filter(|p| is_image(p))
        {
            out.push((path, key.clone()));
        }
    }
    if out.is_empty() {
        return Err(BenchmarkError::Schema {
            path: root.to_path_buf(),
            message: format!(
                "no images in class sub-folders (extensions: {})",
                IMAGE_EXTENSIONS.join(", ")
            ),
        });
    }
    Ok(out)
}

/// Every image file under `dir`, recursively, sorted by path.
fn walk_images(dir: &Path) -> Result<Vec<PathBuf>, BenchmarkError> {
    let mut out = Vec::new();
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            out.extend(walk_images(&path)?);
        } else if is_image(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

#[derive(Deserialize)]
struct ListRow {
    path: String,
    label: serde_json::Value,
}

fn label_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn read_csv(path: &Path) -> Result<Vec<(PathBuf, String)>, BenchmarkError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut reader = csv::Reader::from_path(path).map_err(|e| BenchmarkError::Schema {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for (i, record) in reader.deserialize::<(String, String)>().enumerate() {
        // Line 1 is the header.
        let (image, label) = record.map_err(|e| BenchmarkError::MalformedRow {
            path: path.to_path_buf(),
            row: format!("line {}", i + 2),
            message: format!("expected `path,label`: {e}"),
        })?;
        out.push((base.join(image), label));
    }
    Ok(out)
}

fn read_jsonl(path: &Path) -> Result<Vec<(PathBuf, String)>, BenchmarkError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |message: String| BenchmarkError::MalformedRow {
            path: path.to_path_buf(),
            row: format!("line {}", i + 1),
            message,
        };
        let row: ListRow = serde_json::from_str(line)
            .map_err(|e| bad(format!("expected {{\"path\", \"label\"}}: {e}")))?;
        let label = label_text(&row.label)
            .ok_or_else(|| bad("label must be a string or a number".into()))?;
        out.push((base.join(row.path), label));
    }
    Ok(out)
}

/// The distinct keys in class order: numeric order when every key is a number (ImageNet-V2's
/// `0`…`999`), else byte order (as `ImageFolder`).
fn class_keys(listed: &[(PathBuf, String)]) -> Vec<String> {
    let keys: BTreeSet<&str> = listed.iter().map(|(_, k)| k.as_str()).collect();
    let mut keys: Vec<String> = keys.into_iter().map(str::to_string).collect();
    if keys.iter().all(|k| k.parse::<u64>().is_ok()) {
        keys.sort_by_key(|k| k.parse::<u64>().expect("checked numeric"));
    }
    keys
}

fn display_names(
    keys: &[String],
    names: &ClassNames,
    source: &Path,
) -> Result<Vec<String>, BenchmarkError> {
    match names {
        ClassNames::Keys => Ok(keys.iter().map(|k| k.replace('_', " ")).collect()),
        ClassNames::ImageNet => keys
            .iter()
            .map(|k| {
                imagenet_name(k).ok_or_else(|| BenchmarkError::Schema {
                    path: source.to_path_buf(),
                    message: format!(
                        "class {k:?} is neither an ImageNet WordNet id (n01440764) nor an \
                         index 0..999 (names = \"imagenet\")"
                    ),
                })
            })
            .collect(),
        ClassNames::File(path) => {
            let table = read_name_table(path)?;
            keys.iter()
                .map(|k| {
                    table.get(k).cloned().ok_or_else(|| BenchmarkError::Schema {
                        path: path.clone(),
                        message: format!("no name for class {k:?} (lines are `key<TAB>name`)"),
                    })
                })
                .collect()
        }
    }
}

/// CLIP's ImageNet name of a WordNet id or class index.
fn imagenet_name(key: &str) -> Option<String> {
    let index = match key.parse::<usize>() {
        Ok(i) => Some(i),
        Err(_) => IMAGENET_WNIDS.lines().position(|w| w == key),
    };
    index
        .and_then(|i| IMAGENET_CLASSNAMES.lines().nth(i))
        .map(str::to_string)
}

fn read_name_table(path: &Path) -> Result<HashMap<String, String>, BenchmarkError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let mut table = HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (key, name) = line
            .split_once('\t')
            .ok_or_else(|| BenchmarkError::MalformedRow {
                path: path.to_path_buf(),
                row: format!("line {}", i + 1),
                message: "expected `key<TAB>name`".into(),
            })?;
        table.insert(key.trim().to_string(), name.trim().to_string());
    }
    Ok(table)
}

fn templates(templates: &Templates) -> Result<Vec<String>, BenchmarkError> {
    let list: Vec<String> = match templates {
        Templates::ImageNet => IMAGENET_TEMPLATES.lines().map(str::to_string).collect(),
        Templates::One(t) => vec![t.clone()],
        Templates::File(path) => std::fs::read_to_string(path)
            .map_err(io_error(path))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
    };
    let path = match templates {
        Templates::File(path) => path.clone(),
        _ => PathBuf::from("templates"),
    };
    if list.is_empty() {
        return Err(BenchmarkError::Schema {
            path,
            message: "no templates".into(),
        });
    }
    if let Some(bad) = list.iter().find(|t| t.matches("{}").count() != 1) {
        return Err(BenchmarkError::Schema {
            path,
            message: format!("template {bad:?} needs exactly one `{{}}` for the class name"),
        });
    }
    Ok(list)
}

fn compositions(
    spec: &CompositionSpec,
    keys: &[String],
    classes: &[String],
    source: &Path,
) -> Result<Compositions, BenchmarkError> {
    let seen = match &spec.seen {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(io_error(path))?;
            let listed: BTreeSet<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            if let Some(unknown) = listed
                .iter()
                .find(|l| !keys.iter().any(|k| k == *l) && !classes.iter().any(|c| c == *l))
            {
                return Err(BenchmarkError::Schema {
                    path: path.clone(),
                    message: format!("{unknown:?} is not one of the suite's classes"),
                });
            }
            Some(
                keys.iter()
                    .zip(classes)
                    .map(|(k, c)| listed.contains(k.as_str()) || listed.contains(c.as_str()))
                    .collect(),
            )
        }
    };
    Compositions::from_names(classes, seen).map_err(|name| BenchmarkError::Schema {
        path: source.to_path_buf(),
        message: format!(
            "class {name:?} is not \"attribute object\" (compositions need both words)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/classification")
    }

    fn spec(images: PathBuf) -> ClassificationSpec {
        ClassificationSpec {
            name: "fixture".into(),
            images,
            names: ClassNames::Keys,
            templates: Templates::File(fixture().join("templates.txt")),
            compositions: Some(CompositionSpec {
                seen: Some(fixture().join("seen.txt")),
            }),
            ood: Some(fixture().join("ood")),
        }
    }

    fn classification(loaded: LoadedSuite) -> ClassificationSuite {
        match loaded.suite {
            Suite::Classification(s) => s,
            _ => unreachable!("a classification loader"),
        }
    }

    fn paths(suite: &ClassificationSuite) -> Vec<PathBuf> {
        suite
            .images
            .iter()
            .map(|s| match s {
                ImageSource::File { path, .. } => path.clone(),
                ImageSource::Memory(_) => unreachable!("files"),
            })
            .collect()
    }

    #[test]
    fn image_folder_csv_and_jsonl_give_the_same_suite() {
        let folder = classification(
            load_classification(&spec(fixture().join("images")), &LoadOptions::default()).unwrap(),
        );
        assert_eq!(folder.classes[0], "blue circle");
        assert_eq!(folder.images.len(), 36);
        assert_eq!(folder.templates.len(), 3);
        assert_eq!(folder.ood.len(), 12);
        let seen = folder.compositions.as_ref().unwrap().seen.clone().unwrap();
        let unseen: Vec<&str> = folder
            .classes
            .iter()
            .zip(&seen)
            .filter(|(_, s)| !**s)
            .map(|(c, _)| c.as_str())
            .collect();
        assert_eq!(unseen, ["blue circle", "red square"]);
        for list in ["labels.csv", "labels.jsonl"] {
            let other = classification(
                load_classification(&spec(fixture().join(list)), &LoadOptions::default()).unwrap(),
            );
            assert_eq!(other.labels, folder.labels, "{list}");
            assert_eq!(other.classes, folder.classes, "{list}");
            let canonical = |p: Vec<PathBuf>| -> Vec<PathBuf> {
                p.iter().map(|p| p.canonicalize().unwrap()).collect()
            };
            assert_eq!(
                canonical(paths(&other)),
                canonical(paths(&folder)),
                "{list}"
            );
        }
    }

    #[test]
    fn imagenet_names_follow_wnids_and_indices() {
        assert_eq!(IMAGENET_CLASSNAMES.lines().count(), 1000);
        assert_eq!(IMAGENET_WNIDS.lines().count(), 1000);
        assert_eq!(IMAGENET_TEMPLATES.lines().count(), 80);
        assert_eq!(imagenet_name("n01440764").unwrap(), "tench");
        assert_eq!(imagenet_name("0").unwrap(), "tench");
        assert_eq!(imagenet_name("999").unwrap(), "toilet paper");
        assert_eq!(imagenet_name("n0000"), None);
        let err = display_names(&["n0000".into()], &ClassNames::ImageNet, Path::new("val"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("n0000") && err.contains("val"), "{err}");
    }

    #[test]
    fn numeric_keys_sort_as_numbers() {
        let listed: Vec<(PathBuf, String)> = ["10", "9", "100"]
            .iter()
            .map(|k| (PathBuf::new(), k.to_string()))
            .collect();
        assert_eq!(class_keys(&listed), ["9", "10", "100"]);
    }

    #[test]
    fn bad_inputs_name_the_file_and_line() {
        let dir = std::env::temp_dir().join(format!("negclip-cls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jsonl = dir.join("l.jsonl");
        std::fs::write(
            &jsonl,
            "{\"path\": \"a.png\", \"label\": \"x\"}\n{\"path\": 3}\n",
        )
        .unwrap();
        let err = list_images(&jsonl).unwrap_err().to_string();
        assert!(err.contains("l.jsonl") && err.contains("line 2"), "{err}");
        let names = dir.join("names.txt");
        std::fs::write(&names, "a\tA\nb B\n").unwrap();
        let err = read_name_table(&names).unwrap_err().to_string();
        assert!(err.contains("names.txt") && err.contains("line 2"), "{err}");
        let err = templates(&Templates::One("a {} of {}".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly one"), "{err}");
        let err = compositions(
            &CompositionSpec::default(),
            &["car".into()],
            &["car".into()],
            &dir,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("attribute object"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn subsampling_keeps_labels_with_their_images() {
        let options = LoadOptions {
            subsample: Some((10, 3)),
            ..LoadOptions::default()
        };
        let small =
            classification(load_classification(&spec(fixture().join("images")), &options).unwrap());
        let full = classification(
            load_classification(&spec(fixture().join("images")), &LoadOptions::default()).unwrap(),
        );
        assert_eq!(small.images.len(), 10);
        assert_eq!(small.ood.len(), 10);
        for (path, label) in paths(&small).iter().zip(&small.labels) {
            let i = paths(&full).iter().position(|p| p == path).unwrap();
            assert_eq!(full.labels[i], *label);
        }
    }
}
