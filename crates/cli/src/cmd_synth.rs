//! `negclip synth`: writes synthetic scenes in the ARO file formats (PNG images,
//! VG-Relation / VG-Attribution JSON, Karpathy-style captions) for inspection or
//! for evaluating any model with the ARO loaders.

use std::path::PathBuf;

use anyhow::Context;
use negclip_data::synth::{write_suite_dir, Split, WorldConfig};

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Output directory (created if missing).
    #[arg(long, alias = "out")]
    pub output: PathBuf,
    /// Number of scenes (images) to write.
    #[arg(long, default_value_t = 500)]
    pub items: usize,
    /// Generator seed; the same seed gives the same files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Image side in pixels.
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Which split to write: train, val, test or heldout.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// World config as JSON (fields as in docs/synthetic.md); `--image-size` overrides.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<WorldConfig>(&text)
                .with_context(|| format!("parsing world config {}", path.display()))?
        }
        None => WorldConfig::default(),
    };
    if let Some(size) = args.image_size {
        cfg.image_size = size;
    }
    write_suite_dir(&args.output, args.split, &cfg, args.items, args.seed)?;
    println!(
        "wrote {} {} scenes ({}x{} px) to {}",
        args.items,
        args.split.name(),
        cfg.image_size,
        cfg.image_size,
        args.output.display()
    );
    Ok(())
}
