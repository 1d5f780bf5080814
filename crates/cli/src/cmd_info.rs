//! `negclip info CHECKPOINT`: what a checkpoint is — format, configuration, parameter count.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use negclip_model::weights;

/// Show a checkpoint's format, configuration and parameter count.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Checkpoint file (.safetensors, .pt, .pth, .bin) or directory (HuggingFace / open_clip).
    pub checkpoint: PathBuf,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let device = Device::flex();
    let loaded = weights::load(&args.checkpoint, &device)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let model = &loaded.model;
    let vision = burn::module::Module::num_params(&model.visual);
    let text = burn::module::Module::num_params(&model.text);
    println!("checkpoint:  {}", loaded.weights_path.display());
    println!("format:      {}", loaded.format);
    println!("config from: {}", loaded.config_source);
    println!(
        "parameters:  {} (image tower {}, text tower {}, logit scale 1)",
        model.num_params(),
        vision,
        text
    );
    let scale: f32 = model.logit_scale().into_scalar();
    println!("logit scale: {scale:.4} (exp = {:.2})", scale.exp());
    println!("config:\n{}", serde_json::to_string_pretty(&loaded.config)?);
    Ok(())
}
