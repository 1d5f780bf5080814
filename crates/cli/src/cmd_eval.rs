//! `negclip eval`: score saved checkpoints on benchmark suites, side by side.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use negclip_data::synth::WorldConfig;
use negclip_data::tokenizer::ClipTokenizer;
use negclip_model::checkpoint;
use negclip_train::device;
use negclip_train::evaluate::{
    add_seed_means, evaluate_suite, EvalOptions, ModelEmbedder, SuiteResult,
};
use negclip_train::suites::{build_suites, primary, SuiteOptions};
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
    /// Write results as JSON here (and Markdown beside it, `.md`).
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
    let tokenizer = ClipTokenizer::new();
    let eval_options = EvalOptions {
        batch_size: args.batch_size,
        show_progress: true,
    };
    let mut columns: Vec<(String, Vec<SuiteResult>)> = Vec::new();
    for path in &args.checkpoints {
        let loaded = checkpoint::load(path, &device)
            .with_context(|| format!("loading {}", path.display()))?;
        let embedder = ModelEmbedder::new(&loaded.model, &loaded.config, &device)?;
        let results = suites
            .iter()
            .map(|suite| evaluate_suite(&embedder, &tokenizer, suite, &eval_options))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("evaluating {}", path.display()))?;
        let results = add_seed_means(results);
        columns.push((path.display().to_string(), results));
    }
    let table = markdown_table(&columns);
    println!("{table}");
    if let Some(out) = &args.out {
        let value = json!({
            "suites": args.suite,
            "items": args.items,
            "seed": args.seed,
            "checkpoints": columns.iter().map(|(name, results)| json!({"checkpoint": name, "results": results})).collect::<Vec<_>>(),
        });
        std::fs::write(out, serde_json::to_string_pretty(&value)?)
            .with_context(|| format!("writing {}", out.display()))?;
        let md = out.with_extension("md");
        std::fs::write(&md, &table).with_context(|| format!("writing {}", md.display()))?;
        println!("wrote {} and {}", out.display(), md.display());
    }
    Ok(())
}

/// Rows: each suite's metrics, its headline first; columns: checkpoints.
fn markdown_table(columns: &[(String, Vec<SuiteResult>)]) -> String {
    let mut values: BTreeMap<(String, String), Vec<Option<f64>>> = BTreeMap::new();
    let mut rows: Vec<(String, String)> = Vec::new();
    for (c, (_, results)) in columns.iter().enumerate() {
        for result in results {
            let headline = primary(result).map(|(m, _)| m);
            let mut metrics: Vec<&String> = result.metrics.keys().collect();
            metrics.sort_by_key(|m| (Some(*m) != headline.as_ref(), (*m).clone()));
            for metric in metrics {
                let key = (result.suite.clone(), metric.clone());
                if !values.contains_key(&key) {
                    rows.push(key.clone());
                }
                values
                    .entry(key)
                    .or_insert_with(|| vec![None; columns.len()])[c] = Some(result.metrics[metric]);
            }
        }
    }
    let mut out = String::from("| suite | metric |");
    for (name, _) in columns {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for key in rows {
        out.push_str(&format!("| {} | {} |", key.0, key.1));
        for value in &values[&key] {
            match value {
                Some(v) => out.push_str(&format!(" {v:.4} |")),
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out
}
