//! `negclip eval`: score saved checkpoints on benchmark suites, side by side.

use std::path::PathBuf;

use anyhow::Context;
use negclip_data::atomic::write_atomic;
use negclip_data::synth::WorldConfig;
use negclip_model::checkpoint;
use negclip_train::device;
use negclip_train::evaluate::{evaluate_model, EvalOptions, SuiteResult};
use negclip_train::plot::write_comparison_plot;
use negclip_train::report::{Metrics, ResultsTable};
use negclip_train::suites::{build_suites, SuiteOptions};
use serde_json::json;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A checkpoint in any supported format (repeat to compare several).
    #[arg(long = "checkpoint", required = true)]
    checkpoints: Vec<PathBuf>,
    /// Suites, comma-separated: aro, sugarcrepe, retrieval, vg-relation, …, synth-relation, …
    #[arg(long, value_delimiter = ',', required = true)]
    suite: Vec<String>,
    /// Root folder of the benchmark files (see docs/evaluation.md).
    #[arg(long)]
    data_root: Option<PathBuf>,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Items per suite, a seeded subsample (0 = all).
    #[arg(long, default_value_t = 0)]
    items: usize,
    /// Seed of subsamples and order perturbations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Skip items whose image file is missing (they are counted) instead of failing.
    #[arg(long)]
    skip_missing_images: bool,
    /// Write results as JSON here, with Markdown (`.md`) and a bar chart per suite (`.png`)
    /// beside it.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let device = device::select(&args.device)?;
    let options = SuiteOptions {
        items: args.items,
        seed: args.seed,
        data_root: args.data_root.clone(),
        skip_missing_images: args.skip_missing_images,
        world: WorldConfig::default(),
        world_seed: 0,
    };
    let suites = build_suites(&args.suite, &options).context("loading suites")?;
    let eval_options = EvalOptions {
        batch_size: args.batch_size,
        show_progress: true,
    };
    let mut columns: Vec<(String, Vec<SuiteResult>)> = Vec::new();
    for path in &args.checkpoints {
        let loaded = checkpoint::load(path, &device)
            .with_context(|| format!("loading {}", path.display()))?;
        let results = evaluate_model(
            &loaded.model,
            &loaded.config,
            &suites,
            &eval_options,
            &device,
        )
        .with_context(|| format!("evaluating {}", path.display()))?;
        columns.push((path.display().to_string(), results));
    }
    let table = ResultsTable::new(&columns, Metrics::All).markdown();
    println!("{table}");
    if let Some(out) = &args.out {
        let value = json!({
            "suites": args.suite,
            "items": args.items,
            "seed": args.seed,
            "checkpoints": columns.iter().map(|(name, results)| json!({"checkpoint": name, "results": results})).collect::<Vec<_>>(),
        });
        write_atomic(out, serde_json::to_string_pretty(&value)?.as_bytes())
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
    }
    Ok(())
}
