//! `negclip train`: run a fine-tuning from a TOML file, or continue one.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use burn::tensor::Device;
use negclip_train::checkpoint::{self, Saved};
use negclip_train::engine::Engine;
use negclip_train::loss::LossPrecision;
use negclip_train::report::{epoch_label, Metrics, ResultsTable};
use negclip_train::sampling::Sampling;
use negclip_train::trainer::{TrainOptions, Trainer};
use negclip_train::{device, RunConfig};

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The run file (see docs/config.md).
    #[arg(long, required_unless_present = "resume")]
    config: Option<PathBuf>,
    /// Output folder (overrides the config's `output_dir`).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Continue the run in this output folder from its newest checkpoint.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Override one config key, e.g. `--set optim.lr=1e-5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Device: cpu, wgpu[:N], vulkan[:N] or cuda[:N] (GPU kinds in builds with their feature; `negclip devices` lists them). Under MPI a kind without `:N` means each rank's own GPU (its local rank).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// No progress bars (logs and metrics.jsonl are still written).
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    // A resumed run reads its newest checkpoint once, here, and takes its config from it.
    let (config, resumed) = match &args.resume {
        Some(dir) => {
            let saved = resumed_checkpoint(dir, &args)?;
            (saved.state.config.clone(), Some((saved, dir.clone())))
        }
        None => {
            let path = args
                .config
                .as_ref()
                .expect("clap: --config unless --resume");
            let mut config = RunConfig::load(path, &args.overrides)?;
            if let Some(output) = &args.output {
                config.output_dir = output.clone();
            }
            (config, None)
        }
    };
    let engine = Engine::from_environment(&config.distributed)?;
    let device = device::select_for_rank(&args.device, engine.local_rank())?;
    let output = match &resumed {
        Some((_, dir)) => dir.clone(),
        None => config.output_dir.clone(),
    };
    if engine.world() > 1 {
        // One write, so that the ranks' lines do not interleave in the launcher's output.
        let line = format!(
            "rank {} of {} (pid {}, local rank {}): device {device:?}\n",
            engine.rank(),
            engine.world(),
            std::process::id(),
            engine.local_rank(),
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    let banner = banner(&args, &config, &output, resumed.is_some(), &device, &engine);
    let options = TrainOptions {
        device,
        show_progress: !args.quiet,
        engine: engine.clone(),
    };
    let sampling = Sampling {
        seed: config.eval.seed,
        items: config.eval.items,
    };
    let context = || format!("training run in {}", output.display());
    // Every rank opens the run, so that a check that fails on one stops them all; the run is
    // announced once all the checks have passed.
    let opened = match resumed {
        Some((saved, dir)) => Trainer::resume(saved, &dir, options),
        None => Trainer::new(config, options),
    };
    let trainer = engine.stop_all_on_error(opened.with_context(context))?;
    if !engine.is_writer() {
        // Ranks above 0 train silently beside rank 0, which reports.
        engine.stop_all_on_error(trainer.run().with_context(context))?;
        return Ok(());
    }
    println!("{banner}");
    println!("{}", trainer.parameter_counts());
    let outcome = trainer.run().with_context(context);
    let outcome = engine.stop_all_on_error(outcome)?;
    let columns: Vec<_> = outcome
        .evaluations
        .iter()
        .map(|(epoch, results)| (epoch_label(*epoch), results.clone()))
        .collect();
    println!(
        "\n{}",
        ResultsTable::new(&columns, Metrics::Headline)
            .with_sampling(sampling)
            .console()
    );
    println!("final model:   {}", outcome.final_model.display());
    println!(
        "metrics:       {}",
        outcome.output_dir.join("metrics.jsonl").display()
    );
    println!(
        "plot:          {}",
        outcome.output_dir.join("metrics.png").display()
    );
    if !negclip_train::tensorboard::events_files(&outcome.output_dir)?.is_empty() {
        println!(
            "tensorboard:   tensorboard --logdir {}",
            outcome.output_dir.display()
        );
    }
    let best = outcome.output_dir.join("best.safetensors");
    if best.exists() {
        println!("best model:    {}", best.display());
    }
    let memory = negclip_train::stage_times::peak_rss_bytes().map(|bytes| {
        format!(
            "; peak memory {:.2} GiB",
            bytes as f64 / (1u64 << 30) as f64
        )
    });
    println!("{}{}", outcome.times.summary(), memory.unwrap_or_default());
    Ok(())
}

/// The line that announces a run: where it comes from and goes, and how it computes.
fn banner(
    args: &TrainArgs,
    config: &RunConfig,
    output: &std::path::Path,
    resume: bool,
    device: &Device,
    engine: &Engine,
) -> String {
    format!(
        "negclip train: {} → {}{}; device {}, towers in {}, loss in {}, {} micro-batch(es) per step{}",
        args.config
            .as_ref()
            .map_or("(resumed)".to_string(), |p| p.display().to_string()),
        output.display(),
        if resume { " (resuming)" } else { "" },
        args.device,
        config.optim.precision.name(),
        LossPrecision::for_device(device).name(),
        config.optim.accum_steps,
        match engine.world() {
            1 => String::new(),
            ranks => format!("; {ranks} ranks, {} samples each", config.optim.batch_size / ranks),
        }
    )
}

/// The newest checkpoint of the run in `dir`. A resumed run keeps the config it was started
/// with (docs/config.md, "Resuming"): only `--device` (and `--quiet`) apply.
fn resumed_checkpoint(dir: &std::path::Path, args: &TrainArgs) -> anyhow::Result<Saved> {
    if args.output.is_some() {
        bail!("--output cannot be combined with --resume: the run continues in its own folder");
    }
    let saved = checkpoint::load_latest(dir)
        .with_context(|| format!("resuming the run in {}", dir.display()))?;
    if args.config.is_some() || !args.overrides.is_empty() {
        eprintln!("note: resuming uses the run's own config; --config and --set are ignored");
    }
    Ok(saved)
}
