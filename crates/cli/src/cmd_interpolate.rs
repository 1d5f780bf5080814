//! `negclip interpolate`: WiSE-FT, a checkpoint between a zero-shot model and its fine-tune,
//! θ = (1 − α)·θ_base + α·θ_finetuned over every parameter (`logit_scale` too).

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;
use negclip_model::weights::interpolate::{Alpha, OutputLayout, Pair};
use negclip_model::weights::{self, Naming};

/// Write θ = (1 − α)·θ_base + α·θ_finetuned as a checkpoint (WiSE-FT).
#[derive(clap::Args, Debug)]
pub struct InterpolateArgs {
    /// The zero-shot (base) checkpoint: a file or directory in any supported format.
    #[arg(long = "from", value_name = "BASE")]
    base: PathBuf,
    /// Its fine-tune: the same architecture (configuration, parameter names and shapes).
    #[arg(long = "to", value_name = "FINETUNED")]
    finetuned: PathBuf,
    /// The fine-tune's share: 0 gives BASE, 1 gives FINETUNED, bit for bit. Every parameter
    /// is mixed alike, the logit scale included (as WiSE-FT's reference code does); values
    /// outside [0, 1] extrapolate.
    #[arg(long, allow_negative_numbers = true)]
    alpha: Alpha,
    /// Where to write it: a `.safetensors` file, or a directory when FINETUNED is one. The
    /// inputs' naming is kept (HuggingFace or open_clip; the fine-tune's when they differ);
    /// PyTorch pickles are written as safetensors in their naming.
    #[arg(long, alias = "output")]
    out: PathBuf,
}

pub fn run(args: InterpolateArgs) -> anyhow::Result<()> {
    let device = Device::flex();
    let pair = Pair::load(&args.base, &args.finetuned, &device)?;
    let model = pair
        .model(args.alpha, &device)
        .context("building the interpolated model")?;
    let layout = pair.output();
    write(&model, &pair, layout, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    report(&pair, &model, &args, layout);
    Ok(())
}

fn write(
    model: &negclip_model::Clip,
    pair: &Pair,
    layout: OutputLayout,
    out: &Path,
) -> anyhow::Result<()> {
    match layout {
        OutputLayout::Directory(naming) => weights::export(model, &pair.config, naming, out)?,
        OutputLayout::File(naming) => {
            let extension = out.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !extension.eq_ignore_ascii_case("safetensors") {
                anyhow::bail!(
                    "the interpolated checkpoint is a safetensors file: name it *.safetensors \
                     (negclip writes no PyTorch pickles)"
                );
            }
            weights::save(model, &pair.config, naming, out)?;
        }
    }
    Ok(())
}

fn report(pair: &Pair, model: &negclip_model::Clip, args: &InterpolateArgs, layout: OutputLayout) {
    let (naming, what) = match layout {
        OutputLayout::File(naming) => (naming, "safetensors file"),
        OutputLayout::Directory(naming) => (naming, "directory"),
    };
    let naming = match naming {
        Naming::HuggingFace => "HuggingFace",
        Naming::OpenClip => "open_clip",
    };
    println!(
        "wrote {} ({naming} {what}): (1 − {alpha})·{} + {alpha}·{}",
        args.out.display(),
        args.base.display(),
        args.finetuned.display(),
        alpha = args.alpha,
    );
    if pair.namings_differ() {
        println!(
            "note: the inputs differ in naming ({} and {}); the output follows the fine-tune's",
            pair.base.format, pair.finetuned.format
        );
    }
    let scale: Vec<f32> = model
        .logit_scale()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    if let Some(scale) = scale.first() {
        println!(
            "logit_scale, interpolated like every parameter: {scale:.4} (exp: {:.2})",
            scale.exp()
        );
    }
}
