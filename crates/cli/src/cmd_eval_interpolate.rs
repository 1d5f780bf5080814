//! `negclip eval --interpolate BASE,FINETUNED --alphas …`: WiSE-FT's curve. Each
//! θ(α) = (1 − α)·θ_base + α·θ_finetuned is built in memory (no files) and evaluated like a
//! checkpoint, as a column `α=…`; with `--output` the trade-off plot
//! `<stem>-tradeoff.png` is drawn beside the usual files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;
use negclip_data::suite::Suite;
use negclip_model::weights::interpolate::{Alpha, Pair};
use negclip_model::ClipConfig;
use negclip_train::config::BestMetric;
use negclip_train::evaluate::{evaluate_model, EvalOptions, SuiteResult};
use negclip_train::plot::{write_tradeoff_plot, Tradeoff};

/// WiSE-FT's grid: α from 0 to 1 in steps of 0.1.
const DEFAULT_ALPHAS: &str = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1";

#[derive(clap::Args, Debug)]
pub struct InterpolationArgs {
    /// WiSE-FT: evaluate (1 − α)·BASE + α·FINETUNED for each of --alphas, built in memory,
    /// as columns `α=…` (every parameter mixed, the logit scale included); with --output
    /// also draws `<stem>-tradeoff.png`. The two must share an architecture.
    #[arg(long, value_name = "BASE,FINETUNED", value_parser = parse_pair)]
    interpolate: Option<(PathBuf, PathBuf)>,
    /// The α values of --interpolate, comma-separated (0 = BASE, 1 = FINETUNED).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = DEFAULT_ALPHAS,
        allow_negative_numbers = true,
        requires = "interpolate"
    )]
    alphas: Vec<Alpha>,
    /// The trade-off plot's compositional axis, `suite` (its headline number) or
    /// `suite:metric`; default: the first choice suite (Synth-Relation, vg-relation, …).
    #[arg(long, value_name = "SUITE[:METRIC]", value_parser = parse_metric, requires = "interpolate")]
    tradeoff_x: Option<BestMetric>,
    /// The trade-off plot's robustness axis, `suite` or `suite:metric` (`Synth-Classify:ece`);
    /// default: the first classification suite.
    #[arg(long, value_name = "SUITE[:METRIC]", value_parser = parse_metric, requires = "interpolate")]
    tradeoff_y: Option<BestMetric>,
}

fn parse_pair(text: &str) -> Result<(PathBuf, PathBuf), String> {
    match text.split_once(',') {
        Some((base, tuned)) if !base.trim().is_empty() && !tuned.trim().is_empty() => {
            Ok((PathBuf::from(base.trim()), PathBuf::from(tuned.trim())))
        }
        _ => Err(format!(
            "expected BASE,FINETUNED (two checkpoints), got {text:?}"
        )),
    }
}

fn parse_metric(text: &str) -> Result<BestMetric, String> {
    BestMetric::try_from(text.to_string())
        .map_err(|_| format!("expected SUITE or SUITE:METRIC, got {text:?}"))
}

/// The evaluations of an interpolation, by α.
pub struct Interpolated {
    config: ClipConfig,
    evaluations: Vec<(f64, Vec<SuiteResult>)>,
    x: Option<BestMetric>,
    y: Option<BestMetric>,
}

impl InterpolationArgs {
    /// Evaluates every α on `suites`; `None` without `--interpolate`.
    pub fn evaluate(
        &self,
        suites: &[Suite],
        options: &EvalOptions,
        device: &Device,
    ) -> anyhow::Result<Option<Interpolated>> {
        let Some((base, finetuned)) = &self.interpolate else {
            return Ok(None);
        };
        let pair = Pair::load(base, finetuned, device).context("--interpolate")?;
        let mut evaluations = Vec::new();
        for &alpha in &self.alphas {
            let model = pair.model(alpha, device)?;
            let results = evaluate_model(&model, &pair.config, suites, options, device)
                .with_context(|| format!("evaluating α={alpha}"))?;
            evaluations.push((alpha.value(), results));
            if evaluations.len() == 1 {
                // A misnamed axis fails now, not after the whole grid.
                Tradeoff::new(
                    &evaluations,
                    self.tradeoff_x.as_ref(),
                    self.tradeoff_y.as_ref(),
                )
                .map_err(anyhow::Error::msg)?;
            }
        }
        Ok(Some(Interpolated {
            config: pair.config,
            evaluations,
            x: self.tradeoff_x.clone(),
            y: self.tradeoff_y.clone(),
        }))
    }
}

impl Interpolated {
    /// The shared architecture of the mixed models.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// The results as columns `α=0.3`.
    pub fn columns(&self) -> impl Iterator<Item = (String, Vec<SuiteResult>)> + '_ {
        self.evaluations
            .iter()
            .map(|(alpha, results)| (format!("α={alpha}"), results.clone()))
    }

    /// Draws `<stem>-tradeoff.png` beside `output` and returns its path.
    pub fn write_tradeoff(&self, output: &Path) -> anyhow::Result<PathBuf> {
        let stem = output.file_stem().unwrap_or_default().to_string_lossy();
        let path = output.with_file_name(format!("{stem}-tradeoff.png"));
        let tradeoff = Tradeoff::new(&self.evaluations, self.x.as_ref(), self.y.as_ref())
            .map_err(anyhow::Error::msg)?;
        write_tradeoff_plot(&path, &tradeoff)?;
        Ok(path)
    }
}
