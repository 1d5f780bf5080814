//! `negclip export`: rewrite any readable checkpoint as a directory transformers or open_clip
//! loads directly; or write a preset's seeded initial weights that way, a stand-in checkpoint
//! of a real model's shape (scripts/rehearse-recipe.sh makes its ViT-B/32 so).

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use negclip_model::weights::{self, Naming};
use negclip_model::ClipConfig;

/// Export a checkpoint for HuggingFace transformers or open_clip.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Checkpoint to read (file or directory, any supported format).
    #[arg(long, required_unless_present = "preset", conflicts_with = "preset")]
    pub checkpoint: Option<PathBuf>,
    /// Instead of a checkpoint, a preset's initial weights drawn from `--seed` (`tiny`,
    /// `small`, `vit-b-32`, …): a checkpoint of a real model's shape for rehearsals and tests.
    #[arg(long)]
    pub preset: Option<String>,
    /// Seed of the preset's weights (default 0).
    #[arg(long, conflicts_with = "checkpoint")]
    pub seed: Option<u64>,
    /// Target naming: `hf` (model.safetensors + config.json, for
    /// `CLIPModel.from_pretrained`) or `open_clip` (open_clip_model.safetensors +
    /// open_clip_config.json, for `open_clip.create_model("local-dir:DIR")`).
    #[arg(long, value_parser = parse_naming)]
    pub to: Naming,
    /// Output directory (created if missing; files in it are replaced atomically).
    #[arg(long, alias = "out")]
    pub output: PathBuf,
}

fn parse_naming(s: &str) -> Result<Naming, String> {
    s.parse()
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let device = Device::flex();
    let (model, config, source) = match (&args.checkpoint, &args.preset) {
        (Some(path), _) => {
            let loaded = weights::load(path, &device)
                .with_context(|| format!("loading {}", path.display()))?;
            let source = format!("{} ({})", path.display(), loaded.format);
            (loaded.model, loaded.config, source)
        }
        (None, Some(name)) => {
            let config = ClipConfig::preset(name)?;
            let seed = args.seed.unwrap_or(0);
            device.seed(seed);
            let source = format!("preset {name} (seed {seed})");
            (config.init(&device), config, source)
        }
        (None, None) => unreachable!("clap requires --checkpoint or --preset"),
    };
    weights::export(&model, &config, args.to, &args.output)
        .with_context(|| format!("exporting to {}", args.output.display()))?;
    println!(
        "exported {source}, {} parameters, to {} as {:?}",
        model.num_params(),
        args.output.display(),
        args.to
    );
    Ok(())
}
