//! `negclip export`: rewrite any readable checkpoint as a directory transformers or open_clip
//! loads directly.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use negclip_model::weights::{self, Naming};

/// Export a checkpoint for HuggingFace transformers or open_clip.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Checkpoint to read (file or directory, any supported format).
    #[arg(long)]
    pub checkpoint: PathBuf,
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
    let loaded = weights::load(&args.checkpoint, &device)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    weights::export(&loaded.model, &loaded.config, args.to, &args.output)
        .with_context(|| format!("exporting to {}", args.output.display()))?;
    println!(
        "exported {} ({}, {} parameters) to {} as {:?}",
        args.checkpoint.display(),
        loaded.format,
        loaded.model.num_params(),
        args.output.display(),
        args.to
    );
    Ok(())
}
