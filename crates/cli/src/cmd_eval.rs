//! `negclip eval`: score saved checkpoints on benchmark suites, side by side.

use std::path::PathBuf;

use anyhow::Context;
use negclip_data::atomic::write_atomic;
use negclip_data::benchmarks::classification::ClassificationSpec;
use negclip_data::benchmarks::DataPaths;
use negclip_data::synth::WorldConfig;
use negclip_model::weights;
use negclip_train::clip_benchmark::model_name;
use negclip_train::config::DistributedSection;
use negclip_train::device;
use negclip_train::engine::Engine;
use negclip_train::evaluate::{evaluate_model_with_scores, EvalOptions, SuiteResult};
use negclip_train::plot::{write_comparison_plot, write_reliability_plots};
use negclip_train::report::{CheckpointResults, EvalFile, Metrics, ResultsTable};
use negclip_train::sampling::{DEFAULT_EVAL_ITEMS, DEFAULT_EVAL_SEED};
use negclip_train::suites::{build_suites, SuiteOptions};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A checkpoint in any supported format (repeat to compare several).
    #[arg(long = "checkpoint", required_unless_present = "interpolate")]
    checkpoints: Vec<PathBuf>,
    #[command(flatten)]
    interpolation: Box<crate::cmd_eval_interpolate::InterpolationArgs>,
    #[command(flatten)]
    outputs: crate::cmd_eval_outputs::OutputArgs,
    #[command(flatten)]
    probes: crate::cmd_eval_outputs::ProbeArgs,
    /// Suites, comma-separated: aro, sugarcrepe, sugarcrepe++, valse, winoground, retrieval,
    /// vg-relation, imagenet, …, one subset (sugarcrepe/add_att, valse/existence), the ARO
    /// code's and CLIP_benchmark's names (VG_Relation, sugar_crepe/add_att),
    /// synth-relation, synth-classify, synth-ood, …
    #[arg(long, value_delimiter = ',')]
    suite: Vec<String>,
    /// Root folder of the benchmark files (see docs/evaluation.md).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// A benchmark file or folder by key, overriding the data root's layout (repeatable):
    /// `--data coco-test=/data/coco_karpathy_test.json`. Keys: docs/evaluation.md.
    #[arg(long = "data", value_name = "KEY=PATH", value_parser = parse_path_override)]
    data: Vec<(String, PathBuf)>,
    /// A zero-shot classification suite (repeatable): a TOML file, or an inline table such as
    /// `{ name = "pets", images = "/data/pets/test", templates = "imagenet" }`.
    #[arg(long, value_name = "SPEC")]
    classification: Vec<String>,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Items per suite, a seeded subsample (0 = all); the default is a run's `[eval] items`
    /// default.
    #[arg(long, default_value_t = DEFAULT_EVAL_ITEMS)]
    items: usize,
    /// Seed of subsamples and calibration splits; the default is a run's `[eval] seed`
    /// default.
    #[arg(long, default_value_t = DEFAULT_EVAL_SEED)]
    seed: u64,
    /// Skip items whose image file is missing (they are counted) instead of failing.
    #[arg(long)]
    skip_missing_images: bool,
    /// Write results as JSON here, with Markdown (`.md`) and a bar chart per suite (`.png`)
    /// beside it.
    #[arg(long, alias = "out")]
    output: Option<PathBuf>,
    /// Device: cpu, wgpu[:N], vulkan[:N] or cuda[:N] (GPU kinds in builds with their feature; `negclip devices` lists them).
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn parse_path_override(text: &str) -> Result<(String, PathBuf), String> {
    let (key, path) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=PATH, got {text:?}"))?;
    Ok((key.trim().to_string(), PathBuf::from(path)))
}

/// A classification suite from a TOML file or an inline TOML table.
fn classification_spec(text: &str) -> anyhow::Result<ClassificationSpec> {
    let path = std::path::Path::new(text);
    if path.is_file() {
        let body =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return toml::from_str(&body).with_context(|| format!("{}", path.display()));
    }
    toml::from_str(&format!("spec = {text}"))
        .map(
            |wrapped: std::collections::BTreeMap<String, ClassificationSpec>| {
                wrapped["spec"].clone()
            },
        )
        .with_context(|| format!("--classification {text:?}: neither a file nor an inline table"))
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    // Under mpirun the encoding is split over the ranks; rank 0 reports and writes.
    let engine = Engine::from_environment(&DistributedSection::default())?;
    let outcome = evaluate(args, &engine);
    engine.stop_all_on_error(outcome)
}

fn evaluate(args: EvalArgs, engine: &Engine) -> anyhow::Result<()> {
    let device = device::select_for_rank(&args.device, engine.local_rank())?;
    let classification = args
        .classification
        .iter()
        .map(|spec| classification_spec(spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.suite.is_empty() && classification.is_empty() && args.probes.is_empty() {
        anyhow::bail!("nothing to evaluate: give --suite, --classification or --linear-probe");
    }
    let options = SuiteOptions {
        items: args.items,
        seed: args.seed,
        paths: DataPaths::new(args.data_root.clone(), args.data.iter().cloned().collect())
            .context("--data")?,
        classification,
        skip_missing_images: args.skip_missing_images,
        world: WorldConfig::default(),
        world_seed: 0,
    };
    let suites = build_suites(&args.suite, &options).context("loading suites")?;
    let probes = args.probes.load()?;
    let eval_options = EvalOptions {
        batch_size: args.batch_size,
        show_progress: engine.is_writer(),
        engine: engine.clone(),
    };
    let scores_path = args.outputs.scores_path(args.output.as_deref())?;
    let mut scores = match (&scores_path, engine.is_writer()) {
        (Some(path), true) => Some(crate::cmd_eval_outputs::ScoresFile::create(path)?),
        _ => None,
    };
    let mut columns: Vec<(String, Vec<SuiteResult>)> = Vec::new();
    let mut models = Vec::new();
    for path in &args.checkpoints {
        let loaded =
            weights::load(path, &device).with_context(|| format!("loading {}", path.display()))?;
        let name = path.display().to_string();
        let results = evaluate_model_with_scores(
            &loaded.model,
            &loaded.config,
            &suites,
            &eval_options,
            &device,
            &mut |suite, suite_scores| match scores.as_mut() {
                Some(file) => file.append(&name, suite, suite_scores),
                None => Ok(()),
            },
        )
        .with_context(|| format!("evaluating {}", path.display()))?;
        let probed = crate::cmd_eval_outputs::run_probes(
            &loaded,
            &probes,
            args.seed,
            &eval_options,
            &device,
        )?;
        let results = results.into_iter().chain(probed).collect();
        columns.push((name, results));
        models.push(model_name(&loaded.config));
    }
    let interpolated = args
        .interpolation
        .evaluate(&suites, &eval_options, &device)?;
    if let Some(interpolated) = &interpolated {
        for column in interpolated.columns() {
            columns.push(column);
            models.push(model_name(interpolated.config()));
        }
    }
    if let Some(file) = scores {
        println!("wrote {}", file.finish()?.display());
    }
    if !engine.is_writer() {
        return Ok(());
    }
    let table = ResultsTable::new(&columns, Metrics::All)
        .with_sampling(options.sampling())
        .markdown();
    println!("{table}");
    if let Some(out) = &args.output {
        let file = EvalFile {
            suites: args.suite.clone(),
            items: args.items,
            seed: args.seed,
            checkpoints: columns
                .iter()
                .map(|(checkpoint, results)| CheckpointResults {
                    checkpoint: checkpoint.clone(),
                    results: results.clone(),
                })
                .collect(),
        };
        write_atomic(out, file.to_json().as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
        let md = out.with_extension("md");
        write_atomic(&md, table.as_bytes()).with_context(|| format!("writing {}", md.display()))?;
        let png = out.with_extension("png");
        write_comparison_plot(&png, &columns)?;
        println!(
            "wrote {}, {} and {}",
            out.display(),
            md.display(),
            png.display()
        );
        let dir = out.parent().unwrap_or(std::path::Path::new("."));
        let stem = out.file_stem().unwrap_or_default().to_string_lossy();
        for path in write_reliability_plots(dir, &format!("{stem}-reliability-"), &columns)? {
            println!("wrote {}", path.display());
        }
        let shared = crate::cmd_eval_outputs::clip_benchmark_dir(out);
        let count = crate::cmd_eval_outputs::write_clip_benchmark(
            &shared,
            &columns,
            &models,
            options.sampling(),
        )?;
        println!("wrote {count} CLIP_benchmark files in {}", shared.display());
        if let Some(interpolated) = &interpolated {
            println!("wrote {}", interpolated.write_tradeoff(out)?.display());
        }
    }
    Ok(())
}
