//! `negclip eval`'s results people share: CLIP_benchmark-shaped JSON files beside `--output`
//! and every item's scores (`--save-scores`), so significance tests need no rerun; and the
//! linear probe (`--linear-probe`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use negclip_data::atomic::sync_dir;
use negclip_data::suite::Suite;
use negclip_train::clip_benchmark::ClipBenchmarkResult;
use negclip_train::evaluate::{
    probe_model, EvalOptions, ProbeSets, ScoreRecord, SuiteResult, SuiteScores,
};
use negclip_train::linear_probe::LinearProbeSpec;
use negclip_train::sampling::Sampling;
use negclip_train::TrainError;

#[derive(clap::Args)]
pub struct OutputArgs {
    /// Also write every item's scores (each caption's similarity per item; the similarity
    /// matrix of retrieval suites; each image's class scores) as JSON lines, one per item:
    /// to PATH, or without PATH beside `--output` as `NAME.scores.jsonl`.
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    save_scores: Option<Option<PathBuf>>,
}

impl OutputArgs {
    /// Where the scores go, if anywhere; an error when neither a path nor `--output` says.
    pub fn scores_path(&self, output: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
        match (&self.save_scores, output) {
            (None, _) => Ok(None),
            (Some(Some(path)), _) => Ok(Some(path.clone())),
            (Some(None), Some(output)) => Ok(Some(output.with_extension("scores.jsonl"))),
            (Some(None), None) => {
                anyhow::bail!("--save-scores without a path needs --output to write beside")
            }
        }
    }
}

/// A scores file being written: lines go to `NAME.partial` and it is renamed into place when
/// complete, so a crash never leaves a file that looks whole.
pub struct ScoresFile {
    path: PathBuf,
    partial: PathBuf,
    writer: BufWriter<File>,
}

impl ScoresFile {
    pub fn create(path: &Path) -> anyhow::Result<ScoresFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        Ok(ScoresFile {
            path: path.to_path_buf(),
            partial,
            writer: BufWriter::new(file),
        })
    }

    /// Append one suite's scores, as scored by `checkpoint`.
    pub fn append(
        &mut self,
        checkpoint: &str,
        suite: &Suite,
        scores: &SuiteScores,
    ) -> Result<(), TrainError> {
        for record in ScoreRecord::of_suite(checkpoint, suite, scores) {
            writeln!(self.writer, "{}", record.to_line()).map_err(|source| TrainError::Io {
                path: self.partial.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Flush, sync and move the file into place.
    pub fn finish(self) -> anyhow::Result<PathBuf> {
        let context = || format!("writing {}", self.partial.display());
        let file = self
            .writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(context)?;
        file.sync_all().with_context(context)?;
        std::fs::rename(&self.partial, &self.path)
            .with_context(|| format!("renaming to {}", self.path.display()))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            sync_dir(dir).with_context(|| format!("syncing {}", dir.display()))?;
        }
        Ok(self.path)
    }
}

/// The folder of CLIP_benchmark-shaped files beside `output`: `results.json` →
/// `results-clip_benchmark/`.
pub fn clip_benchmark_dir(output: &Path) -> PathBuf {
    let stem = output.file_stem().unwrap_or_default().to_string_lossy();
    output.with_file_name(format!("{stem}-clip_benchmark"))
}

/// One CLIP_benchmark file per (suite, checkpoint) into `dir`; `models[i]` is column `i`'s
/// architecture. Returns the folder and the number of files.
pub fn write_clip_benchmark(
    dir: &Path,
    columns: &[(String, Vec<SuiteResult>)],
    models: &[String],
    sampling: Sampling,
) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = 0;
    for (i, (checkpoint, results)) in columns.iter().enumerate() {
        let model = models
            .get(i)
            .or(models.first())
            .map_or("custom", String::as_str);
        for result in results {
            let file = ClipBenchmarkResult::new(result, checkpoint, model, sampling);
            file.write(dir)
                .with_context(|| format!("writing {}", dir.join(file.file_name()).display()))?;
            written += 1;
        }
    }
    Ok(written)
}

/// `--linear-probe`: CLIP_benchmark's linear probe on each checkpoint's frozen image features.
#[derive(clap::Args)]
pub struct ProbeArgs {
    /// A linear probe (repeatable): a TOML file or an inline table
    /// `{ name = "pets", train = "/data/pets/train", test = "/data/pets/test" }`, each set an
    /// ImageFolder root or a `.csv` / `.jsonl` list. Fitted on all of train with the
    /// regularisation chosen on a `--seed`-seeded validation split; reports lp_acc1,
    /// lp_acc5, lp_mean_per_class_recall.
    #[arg(long = "linear-probe", value_name = "SPEC")]
    linear_probe: Vec<String>,
}

impl ProbeArgs {
    pub fn is_empty(&self) -> bool {
        self.linear_probe.is_empty()
    }

    /// Each probe's train and test sets, loaded once.
    pub fn load(&self) -> anyhow::Result<Vec<ProbeSets>> {
        self.linear_probe
            .iter()
            .map(|text| {
                let spec = probe_spec(text, "--linear-probe")?;
                ProbeSets::load(&spec).with_context(|| format!("--linear-probe {text:?}"))
            })
            .collect()
    }
}

/// Every probe of one checkpoint, in order.
pub fn run_probes(
    loaded: &negclip_model::weights::LoadedClip,
    probes: &[ProbeSets],
    seed: u64,
    options: &EvalOptions,
    device: &burn::tensor::Device,
) -> anyhow::Result<Vec<SuiteResult>> {
    probe_model(&loaded.model, &loaded.config, probes, seed, options, device)
        .context("linear probe")
}

/// A probe from a TOML file, or from an inline TOML table (`{ key = value, … }`), as
/// `--classification` reads its suites.
fn probe_spec(text: &str, flag: &str) -> anyhow::Result<LinearProbeSpec> {
    let path = Path::new(text);
    if path.is_file() {
        let body =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return toml::from_str(&body).with_context(|| format!("{}", path.display()));
    }
    let mut wrapped: std::collections::BTreeMap<String, LinearProbeSpec> =
        toml::from_str(&format!("spec = {text}"))
            .with_context(|| format!("{flag} {text:?}: neither a file nor an inline table"))?;
    Ok(wrapped.remove("spec").expect("the key just written"))
}
