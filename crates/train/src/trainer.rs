//! The training loop: NegCLIP batches in, AdamW steps out, with evaluation before the first
//! step and after every `eval.every_epochs` epochs, checkpoints, resume and the best model.
//! The pieces live beside it: [`crate::run`] (state, checkpoints, resume), [`crate::batches`]
//! (NegCLIP's batch layout), [`crate::step`] (one optimisation step), [`crate::mining`]
//! (hard images by embedding), [`crate::report`] and [`crate::log`] (what is shown and kept).
//! In a run of several ranks ([`Engine`]) each prepares its slice of every batch, the step
//! shares the loss and the gradients, evaluation is split over the ranks, and rank 0 alone
//! writes files and shows progress.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use negclip_data::tokenizer::ClipTokenizer;
use negclip_data::training::{ExampleRef, HardImages, TrainingSource};
use negclip_model::{Clip, ClipConfig};

use crate::batches::{BatchPlan, BatchStream, HardImageLists, NegativePolicy, Slice, Workers};
use crate::checkpoint::Saved;
use crate::config::{LossKind, NegativesSection, RunConfig};
use crate::engine::Engine;
use crate::error::TrainError;
use crate::evaluate::{
    evaluate_model, probe_model, EvalOptions, Evaluations, ProbeSets, SuiteResult,
};
use crate::freeze::ParamCounts;
use crate::log::TimeRecord;
use crate::mining::mine_hard_images;
use crate::recompute::Activations;
use crate::report::Progress;
use crate::run::{save_model, Run};
use crate::sampling::Sampling;
use crate::schedule::Schedule;
use crate::stage_times::{peak_rss_bytes, timed, StageTimes};
use crate::step::{train_step, StepSettings, UpdateSettings};
use crate::suites::{build_suites, SuiteOptions};

/// How to run, beyond the config file.
pub struct TrainOptions {
    pub device: Device,
    pub show_progress: bool,
    /// The processes the run is spread over ([`Engine::single`]: this one).
    pub engine: Engine,
}

/// What a finished run reports.
pub struct RunOutcome {
    pub output_dir: PathBuf,
    /// Evaluation results per epoch (`None` = before the first step); rank 0's only.
    pub evaluations: Evaluations,
    pub final_model: PathBuf,
    /// What this session cost, stage by stage (also the `time` record of `metrics.jsonl`).
    pub times: StageTimes,
}

/// A run ready to train: its config checked against the data, the model and the device; its
/// model, optimiser and evaluation suites loaded. Made apart from [`Trainer::run`] so that the
/// CLI announces a run only once all of that has passed.
pub struct Trainer {
    run: Run,
    model: Clip,
    plan: Arc<BatchPlan>,
    eval: Evaluation,
    device: Device,
    engine: Engine,
    show_progress: bool,
    /// When opening began, and what this session has cost so far.
    started: Instant,
    times: StageTimes,
}

impl Trainer {
    /// Open a fresh run of `config`. The checks come first, so that a run that cannot start
    /// leaves no output folder behind.
    pub fn new(config: RunConfig, options: TrainOptions) -> Result<Trainer, TrainError> {
        Trainer::open(config, options, |config, writer, device| {
            Run::start(config, writer, device)
        })
    }

    /// Continue a run from its newest checkpoint, `saved` ([`checkpoint::load_latest`], read
    /// once), in `output`. The checkpoint's config drives the whole run.
    pub fn resume(
        saved: Saved,
        output: &Path,
        options: TrainOptions,
    ) -> Result<Trainer, TrainError> {
        let mut config = saved.state.config.clone();
        config.output_dir = output.to_path_buf();
        Trainer::open(config, options, |config, writer, device| {
            Run::resume(saved, config.output_dir, writer, device)
        })
    }

    /// Check `config` against the data, the ranks, the suites and the device, then open the
    /// run (`open_run`) with it.
    fn open(
        config: RunConfig,
        options: TrainOptions,
        open_run: impl FnOnce(RunConfig, bool, &Device) -> Result<(Run, Clip), TrainError>,
    ) -> Result<Trainer, TrainError> {
        let started = Instant::now();
        let device = options.device.autodiff(); // parameters live on the autodiff device
        let engine = options.engine;
        let source = open_source(&config, &engine)?;
        let show_progress = options.show_progress && engine.is_writer();
        let eval = Evaluation::new(&config, show_progress, &engine)?;
        eval.check_best_suite(&config)?;
        config.optim.precision.check(&device)?;
        let (run, model) = open_run(config, engine.is_writer(), &device)?;
        // Gradients off on the fixed parameters, after the broadcast replaced every tensor.
        let model = run.frozen.apply(engine.broadcast_model(model)?);
        let plan = Arc::new(batch_plan(
            &run.state.config,
            source,
            &run.clip_config,
            &engine,
        )?);
        Ok(Trainer {
            run,
            model,
            plan,
            eval,
            device,
            engine,
            show_progress,
            started,
            times: StageTimes {
                open: started.elapsed().as_secs_f64(),
                ..StageTimes::default()
            },
        })
    }

    /// The model's parameters: all, those that train and those the run keeps fixed.
    pub fn parameter_counts(&self) -> ParamCounts {
        self.run.frozen.counts()
    }

    /// Train to the last epoch, evaluating and saving on the way.
    pub fn run(self) -> Result<RunOutcome, TrainError> {
        let Trainer {
            mut run,
            mut model,
            plan,
            eval,
            device,
            engine,
            show_progress,
            started,
            mut times,
        } = self;
        let config = run.state.config.clone();
        let per_epoch = plan.batches_per_epoch();
        let first_step = run.state.step;
        let total_steps = (per_epoch * config.optim.epochs) as u64;
        let progress = match engine.is_writer() {
            true => Progress::new(total_steps, run.state.step, show_progress),
            false => Progress::silent(),
        };
        let schedule = Schedule::new(config.optim.lr, config.optim.warmup_steps, total_steps);
        let update = UpdateSettings {
            grad_clip_norm: config.optim.grad_clip_norm,
            accum_steps: config.optim.accum_steps,
            precision: config.optim.precision,
            activations: Activations::from_config(config.optim.activation_checkpointing),
        };
        let settings = StepSettings::new(&run.clip_config, update, &device, &engine);
        if !run.state.evaluated_start {
            let results = timed(&mut times.evaluation, || {
                eval.run(&mut run, &model, &device, &progress, true)
            })?;
            run.best_metric_value(&results)?; // names a metric the suites have
            run.state.evaluated_start = true;
        }
        while run.state.epoch < config.optim.epochs {
            let epoch = run.state.epoch;
            let hard_images = timed(&mut times.mining, || {
                epoch_hard_images(&mut run, &model, &plan, &device, &progress)
            })?;
            let mut stream = BatchStream::start(
                plan.clone(),
                hard_images,
                epoch,
                run.state.batch,
                config.loader.prefetch.get(),
            );
            let (epoch_started, mut seen) = (Instant::now(), 0);
            while let Some(batch) = timed(&mut times.data_wait, || stream.next()) {
                let lr = schedule.lr(run.state.step);
                let scaler = run.state.loss_scaler.as_mut();
                let (next, stats) = timed(&mut times.steps, || {
                    train_step(model, &mut run.optimizer, batch?, lr, &settings, scaler)
                })?;
                model = next;
                run.state.advance();
                if run.state.step % config.distributed.check_every_steps.get() as u64 == 0 {
                    engine.check_replicas(&model, run.state.step)?;
                }
                if stats.skipped {
                    progress.warn(&format!(
                        "step {}: f16 gradients overflowed, update skipped; loss scale now {}",
                        run.state.step,
                        stats.loss_scale.unwrap_or(f64::NAN)
                    ));
                }
                seen += config.optim.batch_size;
                let rate = seen as f64 / epoch_started.elapsed().as_secs_f64().max(1e-9);
                progress.step(epoch, lr, rate, &stats);
                if let Some(log) = run.log.as_mut() {
                    if run.state.step % config.log.every_steps.max(1) as u64 == 0 {
                        log.train(run.state.step, epoch, lr, rate, &stats)?;
                    }
                }
                let every = config.checkpoint.every_steps as u64;
                if every > 0 && run.state.step % every == 0 && run.state.batch < per_epoch {
                    let name = format!("step-{:07}", run.state.step);
                    timed(&mut times.checkpoints, || run.save(&model, &name))?;
                }
            }
            run.state.finish_epoch();
            let name = format!("epoch-{:03}", run.state.epoch);
            let last = run.state.epoch == config.optim.epochs;
            if run.state.epoch % config.eval.every_epochs.get() == 0 || last {
                let results = timed(&mut times.evaluation, || {
                    eval.run(&mut run, &model, &device, &progress, last)
                })?;
                run.note_best(&results, &name)?;
            }
            timed(&mut times.checkpoints, || {
                match run.save(&model, &name)? {
                    Some(dir) => run.keep_if_best(&dir, &name),
                    None => Ok(()),
                }
            })?;
        }
        progress.finish();
        let (evaluations, final_model) = timed(&mut times.finish, || finish(&run, &model))?;
        times.total = started.elapsed().as_secs_f64();
        if let Some(log) = &run.log {
            log.time(TimeRecord {
                step: run.state.step,
                steps_run: run.state.step - first_step,
                seconds: times.clone(),
                peak_rss_bytes: peak_rss_bytes(),
            })?;
        }
        Ok(RunOutcome {
            evaluations,
            output_dir: run.output,
            final_model,
            times,
        })
    }
}

/// The files a finished run leaves beside its checkpoints (rank 0): the metrics plot, the
/// reliability diagrams and the final model. Returns the run's evaluations (rank 0's) and the
/// final model's path.
fn finish(run: &Run, model: &Clip) -> Result<(Evaluations, PathBuf), TrainError> {
    let final_model = run.output.join("final.safetensors");
    let Some(log) = &run.log else {
        return Ok((Vec::new(), final_model));
    };
    let metrics_png = run.output.join("metrics.png");
    crate::plot::write_plot(&metrics_png, &log.records()?)?;
    let evaluations = log.evaluations()?;
    let reliability = write_reliability(&run.output, &evaluations)?;
    for png in std::iter::once(metrics_png).chain(reliability) {
        log.plot(run.state.step, &png)?; // TensorBoard's copy, at the last step
    }
    log.sync()?;
    save_model(model, &run.clip_config, &final_model)?;
    Ok((evaluations, final_model))
}

/// `reliability-<suite>.png` for each classification suite: the first evaluation (before
/// training) against the last.
fn write_reliability(output: &Path, evaluations: &Evaluations) -> Result<Vec<PathBuf>, TrainError> {
    let ends: Vec<_> = match evaluations.as_slice() {
        [] => vec![],
        [only] => vec![only],
        [first, .., last] => vec![first, last],
    };
    let columns: Vec<(String, Vec<SuiteResult>)> = ends
        .into_iter()
        .map(|(epoch, results)| (crate::report::epoch_label(*epoch), results.clone()))
        .collect();
    crate::plot::write_reliability_plots(output, "reliability-", &columns)
}

/// The run's evaluation suites and how they are scored.
struct Evaluation {
    suites: Vec<negclip_data::suite::Suite>,
    options: EvalOptions,
    /// The seed and item count, recorded with every evaluation.
    sampling: Sampling,
    /// `[[eval.linear_probe]]`: probed before the first step and after the last epoch.
    probes: Vec<ProbeSets>,
}

impl Evaluation {
    fn new(
        config: &RunConfig,
        show_progress: bool,
        engine: &Engine,
    ) -> Result<Evaluation, TrainError> {
        let suite_options = SuiteOptions::from_run(config)?;
        Ok(Evaluation {
            suites: build_suites(&config.eval.suites, &suite_options)?,
            sampling: suite_options.sampling(),
            probes: config
                .eval
                .linear_probe
                .iter()
                .map(ProbeSets::load)
                .collect::<Result<_, _>>()?,
            options: EvalOptions {
                batch_size: config.eval.batch_size,
                show_progress,
                engine: engine.clone(),
            },
        })
    }

    /// The suite `eval.best_metric` names is one of the run's (its metric is checked at the
    /// first evaluation, which knows the metrics).
    fn check_best_suite(&self, config: &RunConfig) -> Result<(), TrainError> {
        let Some(best) = &config.eval.best_metric else {
            return Ok(());
        };
        let names: Vec<&str> = self.suites.iter().map(|s| s.name()).collect();
        if names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(&best.suite))
        {
            return Ok(());
        }
        Err(TrainError::Config {
            path: "eval.best_metric".into(),
            message: format!(
                "\"{best}\" names no suite of this run; the suites are {} (write \"suite\" for \
                 its headline number or \"suite:metric\")",
                names.join(", ")
            ),
        })
    }

    /// Score the model now, log and print the results (the epoch is the run's); with
    /// `probe`, the linear probes too.
    fn run(
        &self,
        run: &mut Run,
        model: &Clip,
        device: &Device,
        progress: &Progress,
        probe: bool,
    ) -> Result<Vec<crate::evaluate::SuiteResult>, TrainError> {
        let epoch = (run.state.epoch > 0).then_some(run.state.epoch);
        let model = model.valid();
        let mut results = evaluate_model(
            &model,
            &run.clip_config,
            &self.suites,
            &self.options,
            device,
        )?;
        if probe {
            results.extend(probe_model(
                &model,
                &run.clip_config,
                &self.probes,
                self.sampling.seed,
                &self.options,
                device,
            )?);
        }
        if let Some(log) = run.log.as_mut() {
            log.eval(run.state.step, epoch, self.sampling, &results)?;
        }
        progress.print_results(epoch, self.sampling, &results);
        Ok(results)
    }
}

/// The lists this epoch's hard images are drawn from: the source's own, or mined with the
/// current model at the start of the epoch (kept in the run, so a resumed epoch reuses them).
fn epoch_hard_images(
    run: &mut Run,
    model: &Clip,
    plan: &BatchPlan,
    device: &Device,
    progress: &Progress,
) -> Result<Arc<HardImageLists>, TrainError> {
    Ok(Arc::new(match plan.source.hard_images() {
        HardImages::None => Vec::new(),
        HardImages::Given(lists) => lists.clone(),
        HardImages::Mine { k } => {
            if run.state.batch == 0 {
                progress.message("mining hard-negative images");
                run.mined = mine_hard_images(
                    model,
                    &run.clip_config,
                    plan.source.as_ref(),
                    k.get(),
                    device,
                )?;
            }
            let sample = |list: &Vec<usize>| list.iter().map(|&j| ExampleRef::Sample(j)).collect();
            run.mined.iter().map(sample).collect()
        }
    }))
}

/// The run's training data, checked against the batch: it splits evenly over the ranks, and
/// the data fills at least one batch.
fn open_source(config: &RunConfig, engine: &Engine) -> Result<Box<dyn TrainingSource>, TrainError> {
    let (batch_size, ranks) = (config.optim.batch_size, engine.world());
    if !batch_size.is_multiple_of(ranks) {
        return Err(TrainError::Config {
            path: "optim.batch_size".into(),
            message: format!(
                "the global batch of {batch_size} does not split into {ranks} equal slices: \
                 choose a multiple of {ranks}, or another number of ranks"
            ),
        });
    }
    let source = config.data.open()?;
    if source.len() < batch_size {
        return Err(TrainError::NoFullBatch {
            samples: source.len(),
            batch_size,
        });
    }
    Ok(source)
}

/// What batch building needs, from the run file, its data, the model and this process's rank.
fn batch_plan(
    config: &RunConfig,
    source: Box<dyn TrainingSource>,
    clip: &ClipConfig,
    engine: &Engine,
) -> Result<BatchPlan, TrainError> {
    let negatives = match (config.loss.kind, &config.negatives) {
        (LossKind::Clip, _) => NegativePolicy::None,
        (LossKind::Negclip, NegativesSection::Table(stored)) => NegativePolicy::Stored {
            per_caption: stored.per_caption.get(),
        },
        (LossKind::Negclip, NegativesSection::Rewrite(rewrite)) => NegativePolicy::rewrite(rewrite),
    };
    Ok(BatchPlan {
        source,
        negatives,
        tokenizer: ClipTokenizer::new(),
        image_size: clip.vision.image_size as u32,
        context_length: clip.text.context_length,
        batch_size: config.optim.batch_size,
        slice: Slice {
            index: engine.rank(),
            of: engine.world(),
        },
        crop_scale: config
            .augment
            .random_resized_crop
            .then_some((config.augment.scale[0], config.augment.scale[1])),
        seed: config.seed,
        workers: Workers::new(config.loader.workers)?,
    })
}
