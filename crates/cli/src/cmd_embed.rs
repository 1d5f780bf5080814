//! `negclip embed`: normalised image and text embeddings of a checkpoint, to safetensors.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use negclip_data::suite::ImageSource;
use negclip_data::tokenizer::ClipTokenizer;
use negclip_model::weights;
use negclip_train::device;
use negclip_train::evaluate::{load_pixels, Embedder, ModelEmbedder};
use rayon::prelude::*;
use safetensors::tensor::TensorView;
use safetensors::Dtype;

#[derive(clap::Args)]
pub struct EmbedArgs {
    #[arg(long)]
    checkpoint: PathBuf,
    /// Image files, or folders whose images are taken in file-name order.
    #[arg(long, num_args = 1..)]
    images: Vec<PathBuf>,
    /// A text file with one caption a line.
    #[arg(long)]
    texts: Option<PathBuf>,
    /// Output safetensors: `image_embeds` [images, dim] and `text_embeds` [texts, dim],
    /// rows in input order; the inputs are listed in the metadata.
    #[arg(long, alias = "out")]
    output: PathBuf,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Device: cpu, wgpu[:N], vulkan[:N] or cuda[:N] (GPU kinds in builds with their feature; `negclip devices` lists them).
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    if args.images.is_empty() && args.texts.is_none() {
        bail!("nothing to embed: give --images and/or --texts");
    }
    let device = device::select(&args.device)?;
    let loaded = weights::load(&args.checkpoint, &device)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let embedder = ModelEmbedder::new(&loaded.model, &loaded.config, &device)?;
    let image_paths = expand_images(&args.images)?;
    let image_rows = embed_images(&embedder, &image_paths, args.batch_size)?;
    let captions = match &args.texts {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    let tokenizer = ClipTokenizer::new();
    let mut text_rows = Vec::with_capacity(captions.len());
    for chunk in captions.chunks(args.batch_size.max(1)) {
        let tokens = tokenizer.tokenize_batch(chunk, embedder.context_length());
        text_rows.extend(embedder.embed_texts(tokens, chunk.len()));
    }
    write_embeddings(
        &args.output,
        &image_paths,
        &image_rows,
        &captions,
        &text_rows,
    )?;
    println!(
        "wrote {} image and {} text embeddings (dim {}) to {}",
        image_rows.len(),
        text_rows.len(),
        loaded.config.embed_dim,
        args.output.display()
    );
    Ok(())
}

const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "gif", "webp", "tiff"];

/// Files as given; folders replaced by their image files in name order.
fn expand_images(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("reading folder {}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                    })
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn embed_images(
    embedder: &dyn Embedder,
    paths: &[PathBuf],
    batch: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut rows = Vec::with_capacity(paths.len());
    let size = embedder.image_size();
    for chunk in paths.chunks(batch.max(1)) {
        let pixels: Vec<Vec<f32>> = chunk
            .par_iter()
            .map(|path| {
                let source = ImageSource::File {
                    path: path.clone(),
                    crop: None,
                };
                load_pixels(&source, size)
            })
            .collect::<Result<_, _>>()?;
        rows.extend(embedder.embed_images(pixels.concat(), chunk.len()));
    }
    Ok(rows)
}

fn write_embeddings(
    out: &Path,
    image_paths: &[PathBuf],
    images: &[Vec<f32>],
    captions: &[String],
    texts: &[Vec<f32>],
) -> anyhow::Result<()> {
    let flat = |rows: &[Vec<f32>]| -> Vec<u8> {
        rows.iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    };
    let (image_bytes, text_bytes) = (flat(images), flat(texts));
    let dim = images.first().or(texts.first()).map_or(0, Vec::len);
    let mut views = Vec::new();
    if !images.is_empty() {
        views.push((
            "image_embeds",
            TensorView::new(Dtype::F32, vec![images.len(), dim], &image_bytes)?,
        ));
    }
    if !texts.is_empty() {
        views.push((
            "text_embeds",
            TensorView::new(Dtype::F32, vec![texts.len(), dim], &text_bytes)?,
        ));
    }
    let mut metadata = std::collections::HashMap::new();
    let names: Vec<String> = image_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    metadata.insert("images".to_string(), serde_json::to_string(&names)?);
    metadata.insert("texts".to_string(), serde_json::to_string(captions)?);
    let bytes = safetensors::serialize(views, Some(metadata))?;
    negclip_data::atomic::write_atomic(out, &bytes)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
