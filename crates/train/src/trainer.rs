//! The training loop: NegCLIP batches in, AdamW steps out, with evaluation before the first
//! step and after every epoch, `metrics.jsonl`, checkpoints, resume and the best model.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use negclip_data::negatives::NegativeKind;
use negclip_data::suite::ImageSource;
use negclip_data::synth::{self, Split};
use negclip_data::tables::read_training_table;
use negclip_data::tokenizer::ClipTokenizer;
use negclip_model::checkpoint::{self as model_checkpoint, Naming};
use negclip_model::{Clip, ClipConfig};

use crate::batches::{
    nearest_neighbours, Batch, BatchPlan, BatchStream, NegativePolicy, SampleSource,
};
use crate::checkpoint::{self, TrainerState, MODEL_FILE};
use crate::config::{DataSource, HardImageSource, LossKind, NegativeSource, RunConfig};
use crate::error::TrainError;
use crate::evaluate::{
    add_seed_means, evaluate_suite, load_pixels, EvalOptions, Evaluations, ModelEmbedder,
    SuiteResult,
};
use crate::log::MetricsLog;
use crate::loss::negclip_loss;
use crate::optim::{clip_global_norm, AdamW, AdamWSettings};
use crate::schedule::cosine_with_warmup;
use crate::suites::{build_suites, headline, SuiteOptions};

/// How to run, beyond the config file.
pub struct TrainOptions {
    pub device: Device,
    /// Continue from the newest checkpoint in the output folder.
    pub resume: bool,
    pub show_progress: bool,
}

/// What a finished run reports.
pub struct RunOutcome {
    pub output_dir: PathBuf,
    /// Evaluation results per epoch (`None` = before the first step).
    pub evaluations: Evaluations,
    pub final_model: PathBuf,
}

/// Train as the config says, or continue a run (`options.resume`).
pub fn train(config: RunConfig, options: TrainOptions) -> Result<RunOutcome, TrainError> {
    // Parameters live on the autodiff flavour of the chosen device.
    let options = TrainOptions {
        device: options.device.autodiff(),
        ..options
    };
    let output = config.output_dir.clone();
    let (mut run, mut model) = Run::open(config, &options)?;
    let config = run.state.config.clone();
    let tokenizer = ClipTokenizer::new();
    let mut plan = batch_plan(
        &config,
        &run.clip_config,
        tokenizer.clone(),
        run.neighbours.clone(),
    )?;
    let suites = build_suites(&config.eval.suites, &SuiteOptions::from_run(&config))?;
    let eval_options = EvalOptions {
        batch_size: config.eval.batch_size,
        show_progress: options.show_progress,
    };
    let mut evaluations = run.log.evaluations()?;

    if !run.state.evaluated_start {
        let results = run.evaluate(&model, &tokenizer, &suites, &eval_options, &options.device)?;
        run.log.eval(run.state.step, None, &results)?;
        print_results("before training", &results);
        evaluations.push((None, results));
        run.state.evaluated_start = true;
    }

    let batches_per_epoch = plan.batches_per_epoch();
    if batches_per_epoch == 0 {
        return Err(TrainError::Data(format!(
            "{} samples make no full batch of {}",
            plan.source.len(),
            config.optim.batch_size
        )));
    }
    let total_steps = (batches_per_epoch * config.optim.epochs) as u64;
    let progress = step_bar(total_steps, run.state.step, options.show_progress);
    while run.state.epoch < config.optim.epochs {
        let epoch = run.state.epoch;
        if config.hard_images.enabled
            && config.hard_images.source == HardImageSource::Nearest
            && run.state.batch == 0
            && config.hard_images.remine_each_epoch
        {
            progress.set_message("mining hard-negative images");
            run.neighbours = mine_neighbours(
                &model,
                &run.clip_config,
                &plan,
                &options.device,
                config.hard_images.k,
            )?;
            plan.neighbours = run.neighbours.clone();
        }
        let shared = Arc::new(plan);
        let stream = BatchStream::start(
            shared.clone(),
            epoch,
            run.state.batch,
            config.data.workers.max(1),
        );
        let started = Instant::now();
        let mut seen = 0usize;
        for batch in stream {
            let batch = batch?;
            let lr = cosine_with_warmup(
                config.optim.lr,
                run.state.step as usize,
                config.optim.warmup_steps,
                total_steps as usize,
            );
            let (next, stats) = train_step(
                model,
                &mut run.optimizer,
                batch,
                lr,
                &config,
                &run.clip_config,
                &options.device,
            );
            model = next;
            run.state.step += 1;
            run.state.batch += 1;
            seen += config.optim.batch_size;
            let rate = seen as f64 / started.elapsed().as_secs_f64().max(1e-9);
            progress.inc(1);
            progress.set_message(format!(
                "epoch {} loss {:.4} lr {:.2e} {:.0} samples/s",
                epoch + 1,
                stats.loss,
                lr,
                rate
            ));
            if run.state.step % config.log.every_steps.max(1) as u64 == 0 {
                run.log.train(run.state.step, epoch, lr, rate, &stats)?;
            }
            let mid_epoch_checkpoint = config.checkpoint.every_steps > 0
                && run.state.step % config.checkpoint.every_steps as u64 == 0
                && run.state.batch < batches_per_epoch;
            if mid_epoch_checkpoint {
                run.save(&model, &format!("step-{:07}", run.state.step))?;
            }
        }
        plan =
            Arc::try_unwrap(shared).unwrap_or_else(|_| unreachable!("the batch thread has ended"));

        run.state.epoch += 1;
        run.state.batch = 0;
        let is_last = run.state.epoch == config.optim.epochs;
        let name = format!("epoch-{:03}", run.state.epoch);
        if run.state.epoch % config.eval.every_epochs == 0 || is_last {
            progress.suspend(|| -> Result<(), TrainError> {
                let results =
                    run.evaluate(&model, &tokenizer, &suites, &eval_options, &options.device)?;
                run.log
                    .eval(run.state.step, Some(run.state.epoch), &results)?;
                print_results(&format!("after epoch {}", run.state.epoch), &results);
                run.note_best(&config, &results, &name);
                evaluations.push((Some(run.state.epoch), results));
                Ok(())
            })?;
        }
        let dir = run.save(&model, &name)?;
        if run
            .state
            .best
            .as_ref()
            .is_some_and(|(_, best)| best == &name)
        {
            run.keep_best(&dir)?;
        }
    }
    progress.finish_and_clear();
    crate::plot::write_plot(&output.join("metrics.png"), &run.log.records()?)?;
    let final_model = output.join("final.safetensors");
    save_model(&model, &run.clip_config, &final_model)?;
    Ok(RunOutcome {
        output_dir: output,
        evaluations,
        final_model,
    })
}

/// The mutable state of a run: its checkpoint state, optimiser, neighbours and log.
struct Run {
    state: TrainerState,
    optimizer: AdamW,
    neighbours: Vec<Vec<usize>>,
    clip_config: ClipConfig,
    log: MetricsLog,
    output: PathBuf,
}

impl Run {
    /// Start a fresh run or pick up the newest checkpoint.
    fn open(config: RunConfig, options: &TrainOptions) -> Result<(Run, Clip), TrainError> {
        let output = config.output_dir.clone();
        let existing = checkpoint::latest(&output)?;
        let settings = AdamWSettings {
            betas: config.optim.betas,
            eps: config.optim.eps,
            weight_decay: config.optim.weight_decay,
        };
        if options.resume {
            let dir = existing.ok_or_else(|| TrainError::Checkpoint {
                path: checkpoint::checkpoints_dir(&output),
                message: "no checkpoint to resume from".into(),
            })?;
            let saved = checkpoint::load(&dir)?;
            let loaded = model_checkpoint::load(&saved.model_path, &options.device)
                .map_err(|e| TrainError::Model(e.to_string()))?;
            let mut state = saved.state;
            // The output folder may have moved; everything else comes from the checkpoint.
            state.config.output_dir = output.clone();
            let optimizer = AdamW::restore(settings, state.step, &saved.optimizer, &options.device)
                .map_err(|message| TrainError::Checkpoint {
                    path: dir.clone(),
                    message,
                })?;
            let log = MetricsLog::resume(&output, state.step)?;
            tracing::info!(checkpoint = %dir.display(), step = state.step, "resuming");
            let run = Run {
                state,
                optimizer,
                neighbours: saved.neighbours,
                clip_config: loaded.config,
                log,
                output,
            };
            return Ok((run, loaded.model));
        }
        if let Some(dir) = existing {
            return Err(TrainError::Checkpoint {
                path: dir,
                message: "this output folder already holds a run: continue it with --resume, or choose another --output".into(),
            });
        }
        fs::create_dir_all(&output).map_err(|source| TrainError::Io {
            path: output.clone(),
            source,
        })?;
        let text = toml::to_string_pretty(&config).expect("config serialises");
        checkpoint::write_atomic(&output.join("config.toml"), text.as_bytes())?;
        options.device.seed(config.seed);
        let (model, clip_config) = initial_model(&config, &options.device)?;
        let state = TrainerState {
            epoch: 0,
            batch: 0,
            step: 0,
            evaluated_start: false,
            best: None,
            config,
        };
        let run = Run {
            state,
            optimizer: AdamW::new(settings),
            neighbours: Vec::new(),
            clip_config,
            log: MetricsLog::create(&output)?,
            output,
        };
        Ok((run, model))
    }

    fn evaluate(
        &self,
        model: &Clip,
        tokenizer: &ClipTokenizer,
        suites: &[negclip_data::suite::Suite],
        options: &EvalOptions,
        device: &Device,
    ) -> Result<Vec<SuiteResult>, TrainError> {
        let inference = model.valid();
        let embedder = ModelEmbedder::new(&inference, &self.clip_config, device)?;
        let results = suites
            .iter()
            .map(|suite| evaluate_suite(&embedder, tokenizer, suite, options))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(add_seed_means(results))
    }

    fn save(&self, model: &Clip, name: &str) -> Result<PathBuf, TrainError> {
        checkpoint::save(
            &self.output,
            name,
            &self.state,
            &self.optimizer.state(),
            &self.neighbours,
            |path| save_model(model, &self.clip_config, path),
        )
    }

    /// Remember `name` as best if the configured metric improved.
    fn note_best(&mut self, config: &RunConfig, results: &[SuiteResult], name: &str) {
        let Some(metric) = &config.eval.best_metric else {
            return;
        };
        let Some(value) = headline(results, metric) else {
            tracing::warn!(metric, "best_metric names no evaluated suite or metric");
            return;
        };
        if self
            .state
            .best
            .as_ref()
            .is_none_or(|(best, _)| value > *best)
        {
            self.state.best = Some((value, name.to_string()));
        }
    }

    /// Copy the best checkpoint's model to `OUTPUT/best.safetensors`.
    fn keep_best(&self, dir: &Path) -> Result<(), TrainError> {
        let bytes = fs::read(dir.join(MODEL_FILE)).map_err(|source| TrainError::Io {
            path: dir.join(MODEL_FILE),
            source,
        })?;
        checkpoint::write_atomic(&self.output.join("best.safetensors"), &bytes)
    }
}

fn save_model(model: &Clip, config: &ClipConfig, path: &Path) -> Result<(), TrainError> {
    model_checkpoint::save(model, config, Naming::HuggingFace, path)
        .map_err(|e| TrainError::Model(e.to_string()))
}

/// The model a fresh run starts from: a checkpoint, or a preset initialised from the seed.
fn initial_model(config: &RunConfig, device: &Device) -> Result<(Clip, ClipConfig), TrainError> {
    if let Some(path) = &config.model.checkpoint {
        let loaded = model_checkpoint::load(path, device)
            .map_err(|e| TrainError::Model(format!("{}: {e}", path.display())))?;
        return Ok((loaded.model, loaded.config));
    }
    let name = config
        .model
        .preset
        .as_deref()
        .expect("validated: preset or checkpoint");
    let clip_config = ClipConfig::preset(name).map_err(|e| TrainError::Model(e.to_string()))?;
    Ok((clip_config.init(device), clip_config))
}

fn batch_plan(
    config: &RunConfig,
    clip: &ClipConfig,
    tokenizer: ClipTokenizer,
    neighbours: Vec<Vec<usize>>,
) -> Result<BatchPlan, TrainError> {
    let source = match config.data.source {
        DataSource::Synthetic => {
            let (world, seed) = (&config.data.world, config.data.world_seed);
            let n = config.data.samples_per_epoch;
            let scenes = match config.data.relation_captions_only {
                true => synth::relation_caption_indices(Split::Train, n, world, seed),
                false => (0..n as u64).collect(),
            };
            SampleSource::Synthetic {
                world: world.clone(),
                seed,
                scenes,
            }
        }
        DataSource::Table => {
            let table = config.data.table.as_ref().expect("validated: table");
            let rows = read_training_table(table).map_err(|e| TrainError::Data(e.to_string()))?;
            let image_root = config
                .data
                .image_root
                .clone()
                .unwrap_or_else(|| table.parent().map(Path::to_path_buf).unwrap_or_default());
            SampleSource::Table { rows, image_root }
        }
    };
    let negatives = match (config.loss.kind, config.negatives.source) {
        (LossKind::Clip, _) => NegativePolicy::None,
        (LossKind::Negclip, NegativeSource::Table) => NegativePolicy::Stored {
            per_caption: config.negatives.per_caption,
        },
        (LossKind::Negclip, NegativeSource::Rewrite) => NegativePolicy::Rewrite {
            kinds: parse_kinds(&config.negatives.kinds)?,
            tagger: negclip_data::negatives::shipped_tagger(),
            fresh: config.negatives.regenerate_each_epoch,
            per_caption: config.negatives.per_caption,
        },
    };
    let hard = &config.hard_images;
    let neighbours = match hard.source {
        _ if !hard.enabled => neighbours,
        HardImageSource::Counterfactual => (0..source.len())
            .map(|i| vec![source.twin_index(i)])
            .collect(),
        HardImageSource::Partner => source.partners(hard.k),
        HardImageSource::Nearest if !hard.remine_each_epoch => {
            let table = config.data.table.as_deref().expect("validated: table");
            stored_neighbours(&source, table)?
        }
        HardImageSource::Nearest => neighbours,
    };
    Ok(BatchPlan {
        source,
        negatives,
        neighbours,
        tokenizer,
        image_size: clip.vision.image_size as u32,
        context_length: clip.text.context_length,
        batch_size: config.optim.batch_size,
        crop_scale: config
            .augment
            .random_resized_crop
            .then_some((config.augment.scale[0], config.augment.scale[1])),
        seed: config.seed,
    })
}

/// The table's `neg_image` lists, every row needing at least one in range.
fn stored_neighbours(source: &SampleSource, table: &Path) -> Result<Vec<Vec<usize>>, TrainError> {
    (0..source.len())
        .map(|i| {
            let list = source.stored_neighbours(i);
            if list.is_empty() || list.iter().any(|&j| j >= source.len()) {
                return Err(TrainError::Data(format!(
                    "{}: row {i} (counted from 0, as neg_image is): hard images from the table need neg_image indices in 0..{} (got {list:?}); or set hard_images.remine_each_epoch = true",
                    table.display(),
                    source.len()
                )));
            }
            Ok(list)
        })
        .collect()
}

fn parse_kinds(names: &[String]) -> Result<Vec<NegativeKind>, TrainError> {
    names
        .iter()
        .map(|name| {
            name.parse::<NegativeKind>()
                .map_err(|_| TrainError::Config {
                    path: PathBuf::from("negatives.kinds"),
                    message: format!("unknown negative kind {name:?}"),
                })
        })
        .collect()
}

/// Numbers of one step for the log.
pub struct StepStats {
    pub loss: f64,
    pub image_to_text: f64,
    pub text_to_image: f64,
    pub grad_norm: Option<f64>,
    pub logit_scale: f64,
    /// N: anchors plus hard-negative images.
    pub images: usize,
    pub negatives: usize,
}

fn train_step(
    model: Clip,
    optimizer: &mut AdamW,
    batch: Batch,
    lr: f64,
    config: &RunConfig,
    clip: &ClipConfig,
    device: &Device,
) -> (Clip, StepStats) {
    let s = clip.vision.image_size;
    let l = clip.text.context_length;
    let n = batch.n_images;
    let m = batch.n_negatives;
    let images = Tensor::<4>::from_data(TensorData::new(batch.pixels, [n, 3, s, s]), device);
    let tokens = |ids: Vec<u32>, rows: usize| {
        let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
        Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, l]), device)
    };
    let positives = tokens(batch.positives, n);
    let negatives = (m > 0).then(|| tokens(batch.negatives, m));
    negclip_step(
        model,
        optimizer,
        images,
        positives,
        negatives,
        lr,
        config.optim.grad_clip_norm,
    )
}

/// One optimisation step on a NegCLIP batch already on the model's (autodiff) device: both
/// towers (all captions in one text pass), the loss, backward, optional global-norm clipping,
/// AdamW and the logit-scale clamp. `images` N×3×S×S, `positives` N×L token ids, `negatives`
/// M×L (`None`: plain CLIP loss). Public so that `negclip bench train-step` times exactly this.
pub fn negclip_step(
    model: Clip,
    optimizer: &mut AdamW,
    images: Tensor<4>,
    positives: Tensor<2, Int>,
    negatives: Option<Tensor<2, Int>>,
    lr: f64,
    grad_clip_norm: Option<f64>,
) -> (Clip, StepStats) {
    let n = positives.dims()[0];
    let m = negatives.as_ref().map_or(0, |t| t.dims()[0]);
    let tokens = match negatives {
        Some(negatives) => Tensor::cat(vec![positives, negatives], 0),
        None => positives,
    };

    let image_emb = model.encode_image(images);
    let text_emb = model.encode_text(tokens);
    let positives = text_emb.clone().narrow(0, 0, n);
    let negatives = (m > 0).then(|| text_emb.narrow(0, n, m));
    let out = negclip_loss(image_emb, positives, negatives, model.logit_scale());
    let mut grads = GradientsParams::from_grads(out.loss.backward(), &model);
    let grad_norm = grad_clip_norm.map(|max| clip_global_norm(&model, &mut grads, max));
    let model = optimizer.step(lr, model, grads);
    let model = model.clamp_logit_scale(0.0, 100f32.ln());
    let stats = StepStats {
        loss: out.loss.into_scalar::<f64>(),
        image_to_text: out.image_to_text.into_scalar::<f64>(),
        text_to_image: out.text_to_image.into_scalar::<f64>(),
        grad_norm,
        logit_scale: model.logit_scale().into_scalar::<f64>(),
        images: n,
        negatives: m,
    };
    (model, stats)
}

/// Embed every training image (eval transform) and keep each one's k nearest neighbours.
fn mine_neighbours(
    model: &Clip,
    config: &ClipConfig,
    plan: &BatchPlan,
    device: &Device,
    k: usize,
) -> Result<Vec<Vec<usize>>, TrainError> {
    let inference = model.valid();
    let embedder = ModelEmbedder::new(&inference, config, device)?;
    let mut embeddings = Vec::with_capacity(plan.source.len());
    let indices: Vec<usize> = (0..plan.source.len()).collect();
    for chunk in indices.chunks(256) {
        let pixels = chunk
            .iter()
            .map(|&i| {
                let (image, _) = plan.source.get(i)?;
                load_pixels(&ImageSource::Memory(Arc::new(image)), plan.image_size)
            })
            .collect::<Result<Vec<_>, _>>()?;
        embeddings.extend(crate::evaluate::Embedder::embed_images(
            &embedder,
            pixels.concat(),
            chunk.len(),
        ));
    }
    Ok(nearest_neighbours(&embeddings, k))
}

fn step_bar(total: u64, done: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_position(done);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} steps, ETA {eta} · {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

fn print_results(when: &str, results: &[SuiteResult]) {
    if results.is_empty() {
        return;
    }
    println!("evaluation {when}:");
    for result in results {
        let numbers: Vec<String> = result
            .metrics
            .iter()
            .filter(|(name, _)| !name.contains('/') || name.ends_with("/1"))
            .map(|(name, value)| format!("{name} {value:.4}"))
            .collect();
        println!("  {:<28} {}", result.suite, numbers.join("  "));
    }
}

/// The evaluation table of a run: rows are suite metrics, columns the evaluations.
pub fn summary_table(evaluations: &Evaluations) -> String {
    let mut rows: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (column, (_, results)) in evaluations.iter().enumerate() {
        for result in results {
            if let Some((metric, value)) = crate::suites::primary(result) {
                let row = rows
                    .entry(format!("{} ({metric})", result.suite))
                    .or_insert_with(|| vec![None; evaluations.len()]);
                row[column] = Some(value);
            }
        }
    }
    let headers: Vec<String> = evaluations
        .iter()
        .map(|(epoch, _)| epoch.map_or("start".to_string(), |e| format!("epoch {e}")))
        .collect();
    let width = rows.keys().map(String::len).max().unwrap_or(5).max(5);
    let mut out = format!("{:<width$}", "suite");
    for header in &headers {
        out.push_str(&format!(" | {header:>8}"));
    }
    out.push('\n');
    for (name, values) in rows {
        out.push_str(&format!("{name:<width$}"));
        for value in values {
            match value {
                Some(v) => out.push_str(&format!(" | {:>8.4}", v)),
                None => out.push_str(&format!(" | {:>8}", "-")),
            }
        }
        out.push('\n');
    }
    out
}
