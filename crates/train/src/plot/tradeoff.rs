//! `negclip eval --interpolate`'s trade-off plot (WiSE-FT): on top, each suite's headline
//! number ([`crate::suites::primary`]) against α, the fine-tune's share of the weights; under
//! it, one compositional number against one robustness number, one labelled point per α,
//! joined in α order.

use std::error::Error;
use std::path::Path;

use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::{
    chart_builder, decimals, draw_empty, draw_legend, legend_height, legend_rows, mesh_look,
    nice_step, sub_area, ticks, Entry, Panel, Rect, Swatch, Ticked,
};
use super::text::text;
use super::{render, write_image, Area, Drawn, MARGIN, PALETTE, WIDTH, X_LABELS};
use crate::config::BestMetric;
use crate::error::TrainError;
use crate::evaluate::{Report, SuiteResult};
use crate::suites::metric_value;

/// Height of each of the two charts.
const CHART: u32 = 420;
const POINT_TEXT: u32 = 15;

/// One suite's headline number at each α (`None` where it was not a finite number).
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteCurve {
    pub suite: String,
    pub metric: String,
    pub values: Vec<Option<f64>>,
}

/// What the trade-off plot draws: the α grid, each suite's curve, and the two numbers of the
/// lower panel at each α.
#[derive(Debug, Clone, PartialEq)]
pub struct Tradeoff {
    pub alphas: Vec<f64>,
    pub suites: Vec<SuiteCurve>,
    /// (compositional, robustness) names and their values by α; `None` when the results
    /// hold no pair to draw.
    pub pair: Option<TradeoffPair>,
}

/// The lower panel's two numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeoffPair {
    pub x: BestMetric,
    pub y: BestMetric,
    /// `suite: metric` of each axis, the headline metric named where `x` or `y` names a
    /// suite only.
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<(f64, f64)>,
}

impl Tradeoff {
    /// The curves of `evaluations` (α, its results). `x` and `y` name the lower panel's
    /// numbers as `suite` or `suite:metric` (`negclip eval --tradeoff-x`, `--tradeoff-y`);
    /// left out, they are the first choice suite's and the first classification suite's
    /// headline numbers ([`default_pair`]). A named suite or metric that is not there is an
    /// error naming the flag and listing what there is.
    pub fn new(
        evaluations: &[(f64, Vec<SuiteResult>)],
        x: Option<&BestMetric>,
        y: Option<&BestMetric>,
    ) -> Result<Tradeoff, String> {
        let alphas = evaluations.iter().map(|(alpha, _)| *alpha).collect();
        let first = evaluations.first().map_or(&[][..], |(_, r)| r.as_slice());
        let (default_x, default_y) = default_pair(first);
        let pair = match (x.cloned().or(default_x), y.cloned().or(default_y)) {
            (Some(x), Some(y)) => {
                let points = evaluations
                    .iter()
                    .map(|(_, results)| {
                        Ok((
                            metric_value(results, &x, "--tradeoff-x")?,
                            metric_value(results, &y, "--tradeoff-y")?,
                        ))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Some(TradeoffPair {
                    x_label: axis_label(first, &x),
                    y_label: axis_label(first, &y),
                    x,
                    y,
                    points,
                })
            }
            _ => None,
        };
        Ok(Tradeoff {
            alphas,
            suites: suite_curves(evaluations),
            pair,
        })
    }
}

/// `suite: metric` of the number `named` names among `results`.
fn axis_label(results: &[SuiteResult], named: &BestMetric) -> String {
    let metric = named.metric.clone().or_else(|| {
        results
            .iter()
            .find(|r| r.suite.eq_ignore_ascii_case(&named.suite))
            .and_then(crate::suites::primary)
            .map(|(metric, _)| metric)
    });
    match metric {
        Some(metric) => format!("{}: {metric}", named.suite),
        None => named.suite.clone(),
    }
}

/// The lower panel's default numbers: the headline of the first choice suite (a
/// compositional benchmark: ARO, SugarCrepe, the synthetic Relation …) and of the first
/// classification suite (zero-shot accuracy, or OOD AUROC where the suite has OOD images).
pub fn default_pair(results: &[SuiteResult]) -> (Option<BestMetric>, Option<BestMetric>) {
    let first = |wanted: fn(&Report) -> bool| {
        results
            .iter()
            .find(|r| wanted(&r.report))
            .map(|r| BestMetric {
                suite: r.suite.clone(),
                metric: None,
            })
    };
    (
        first(|r| matches!(r, Report::Choice(_))),
        first(|r| matches!(r, Report::Classification(_))),
    )
}

fn suite_curves(evaluations: &[(f64, Vec<SuiteResult>)]) -> Vec<SuiteCurve> {
    let mut curves: Vec<SuiteCurve> = Vec::new();
    for (column, (_, results)) in evaluations.iter().enumerate() {
        for result in results {
            let Some((metric, value)) = crate::suites::primary(result) else {
                continue;
            };
            let index = match curves.iter().position(|c| c.suite == result.suite) {
                Some(index) => index,
                None => {
                    curves.push(SuiteCurve {
                        suite: result.suite.clone(),
                        metric,
                        values: vec![None; evaluations.len()],
                    });
                    curves.len() - 1
                }
            };
            curves[index].values[column] = Some(value).filter(|v| v.is_finite());
        }
    }
    curves
}

/// Draw the trade-off plot of `tradeoff` to `path`.
pub fn write_tradeoff_plot(path: &Path, tradeoff: &Tradeoff) -> Result<(), TrainError> {
    write_image(path, || tradeoff_image(tradeoff))
}

/// Where the trade-off plot draws what.
struct TradeoffLayout {
    height: u32,
    curves: Panel,
    pair: Rect,
}

impl TradeoffLayout {
    fn new(tradeoff: &Tradeoff) -> Result<TradeoffLayout, Box<dyn Error>> {
        let labels = legend_labels(tradeoff);
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let legend = legend_height(legend_rows(&labels, WIDTH)?.len());
        let curves = Panel {
            chart: Rect {
                x: 0,
                y: 0,
                w: WIDTH,
                h: CHART,
            },
            legend: Rect {
                x: 0,
                y: CHART,
                w: WIDTH,
                h: legend,
            },
        };
        let pair = Rect {
            x: 0,
            y: CHART + legend,
            w: WIDTH,
            h: CHART,
        };
        Ok(TradeoffLayout {
            height: pair.y + pair.h,
            curves,
            pair,
        })
    }
}

fn legend_labels(tradeoff: &Tradeoff) -> Vec<String> {
    tradeoff
        .suites
        .iter()
        .map(|c| format!("{} ({})", c.suite, c.metric))
        .collect()
}

fn tradeoff_image(tradeoff: &Tradeoff) -> Result<RgbImage, Box<dyn Error>> {
    let layout = TradeoffLayout::new(tradeoff)?;
    render(layout.height, |root| {
        draw_curves(
            &sub_area(root, layout.curves.chart),
            &sub_area(root, layout.curves.legend),
            tradeoff,
        )?;
        let area = sub_area(root, layout.pair);
        match &tradeoff.pair {
            Some(pair) => draw_pair(&area, &tradeoff.alphas, pair),
            None => draw_empty(
                &area,
                "Compositional against robustness",
                "no data: needs a choice suite and a classification suite (--tradeoff-x, --tradeoff-y)",
            ),
        }
    })
}

/// An axis over `values` with some room; scores in [0, 1] keep the whole unit range.
fn value_axis(values: &[f64], max_ticks: usize) -> (Ticked, usize) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if !lo.is_finite() || (lo >= 0.0 && hi <= 1.0) {
        (0.0, 1.0)
    } else {
        let pad = ((hi - lo) * 0.08).max(1e-3);
        (lo - pad, hi + pad)
    };
    let step = nice_step(hi - lo, max_ticks);
    (
        Ticked::new(lo..hi, ticks(lo, hi, step)),
        decimals(step).max(1),
    )
}

/// An axis around `values` only, with room for the points' labels.
fn data_axis(values: &[f64], max_ticks: usize) -> (Ticked, usize) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.1).max(0.01);
    let (lo, hi) = (lo - pad, hi + pad);
    let step = nice_step(hi - lo, max_ticks);
    (
        Ticked::new(lo..hi, ticks(lo, hi, step)),
        decimals(step).max(1),
    )
}

/// The α axis: ticked at the α values themselves when there are few, else at round numbers.
fn alpha_axis(alphas: &[f64]) -> (Ticked, usize) {
    let lo = alphas.iter().copied().fold(0.0, f64::min);
    let hi = alphas.iter().copied().fold(1.0, f64::max);
    let pad = (hi - lo) * 0.02;
    let marks = if alphas.len() <= 11 {
        alphas.to_vec()
    } else {
        ticks(lo, hi, nice_step(hi - lo, 10))
    };
    let digits = marks
        .iter()
        .map(|a| format!("{a}").split('.').nth(1).map_or(0, str::len))
        .max()
        .unwrap_or(0);
    (Ticked::new(lo - pad..hi + pad, marks), digits)
}

fn draw_curves(chart_area: &Area, legend_area: &Area, tradeoff: &Tradeoff) -> Drawn {
    let title = "Each suite's headline number against α (0: base, 1: fine-tune)";
    let values: Vec<f64> = tradeoff
        .suites
        .iter()
        .flat_map(|c| c.values.iter().flatten().copied())
        .collect();
    if values.is_empty() {
        return draw_empty(chart_area, title, "no data: no suite results");
    }
    let (x, x_digits) = alpha_axis(&tradeoff.alphas);
    let (y, y_digits) = value_axis(&values, 10);
    let mut chart = chart_builder(chart_area, title)
        .margin_right(MARGIN + 8)
        .x_label_area_size(X_LABELS)
        .build_cartesian_2d(x, y)?;
    mesh_look(&mut chart.configure_mesh())
        .x_desc("α, the fine-tuned model's share of the weights")
        .y_desc("headline metric")
        .x_label_formatter(&|a| format!("{a:.x_digits$}"))
        .y_label_formatter(&|v| format!("{v:.y_digits$}"))
        .draw()?;
    let labels = legend_labels(tradeoff);
    let mut entries = Vec::new();
    for (i, (curve, label)) in tradeoff.suites.iter().zip(&labels).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> = tradeoff
            .alphas
            .iter()
            .zip(&curve.values)
            .filter_map(|(&a, v)| v.map(|v| (a, v)))
            .collect();
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            colour.stroke_width(2),
        ))?;
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        entries.push(Entry {
            label,
            colour,
            swatch: Swatch::Line(2, 3),
        });
    }
    draw_legend(legend_area, &entries)
}

fn draw_pair(area: &Area, alphas: &[f64], pair: &TradeoffPair) -> Drawn {
    let title = format!("{} against {}, one point per α", pair.y_label, pair.x_label);
    let xs: Vec<f64> = pair.points.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = pair.points.iter().map(|p| p.1).collect();
    let finite = |v: &[f64]| {
        v.iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect::<Vec<_>>()
    };
    let (x, x_digits) = data_axis(&finite(&xs), 10);
    let (y, y_digits) = data_axis(&finite(&ys), 8);
    let mut chart = chart_builder(area, &title)
        .margin_right(MARGIN + 40)
        .x_label_area_size(X_LABELS)
        .build_cartesian_2d(x, y)?;
    mesh_look(&mut chart.configure_mesh())
        .x_desc(format!("{} (compositional)", pair.x_label))
        .y_desc(format!("{} (robustness)", pair.y_label))
        .x_label_formatter(&|v| format!("{v:.x_digits$}"))
        .y_label_formatter(&|v| format!("{v:.y_digits$}"))
        .draw()?;
    let points: Vec<(f64, f64)> = pair
        .points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    chart.draw_series(LineSeries::new(
        points.iter().copied(),
        PALETTE[0].stroke_width(1),
    ))?;
    for (&alpha, &(x, y)) in alphas.iter().zip(&pair.points) {
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, y))
                + Circle::new((0, 0), 5, PALETTE[1].filled())
                + Text::new(
                    format!("α={alpha}"),
                    (8, -4),
                    text(POINT_TEXT).pos(Pos::new(HPos::Left, VPos::Bottom)),
                ),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::pixels::{count, inked, tinted};
    use negclip_data::metrics::classification::{Calibration, ClassificationReport};
    use negclip_data::metrics::ChoiceReport;

    fn result(name: &str, metrics: &[(&str, f64)], report: Report) -> SuiteResult {
        SuiteResult {
            suite: name.to_string(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            report,
        }
    }

    /// Empty reports: their kind is all the default pair looks at.
    fn choice() -> Report {
        Report::Choice(ChoiceReport {
            suite: String::new(),
            items: Vec::new(),
            predictions: Vec::new(),
            correct: 0,
            accuracy: 0.0,
            macro_accuracy: None,
            macro_without_min_filter: None,
            macro_with_min_filter: None,
            per_group: Default::default(),
        })
    }

    fn classification() -> Report {
        Report::Classification(ClassificationReport {
            suite: String::new(),
            predictions: Vec::new(),
            top1: 0.0,
            top5: 0.0,
            top5_k: 1,
            mean_per_class_recall: 0.0,
            calibration: Calibration {
                logit_scale: 1.0,
                ece: 0.0,
                bins: Vec::new(),
                fit_items: 0,
                eval_items: 0,
                temperature: 1.0,
                ece_before_scaling: 0.0,
                ece_after_scaling: 0.0,
            },
            compositions: None,
            ood: None,
        })
    }

    /// Relation macro accuracy, Classify top-1 and unseen top-1 at α = 0, 0.5, 1.
    const VALUES: [(f64, [f64; 3]); 3] = [
        (0.0, [0.45, 0.4, 0.3]),
        (0.5, [0.65, 0.35, 0.2]),
        (1.0, [0.85, 0.3, 0.05]),
    ];

    fn evaluations() -> Vec<(f64, Vec<SuiteResult>)> {
        VALUES
            .iter()
            .map(|&(a, [relation, top1, unseen])| {
                (
                    a,
                    vec![
                        result("Synth-Relation", &[("macro_accuracy", relation)], choice()),
                        result(
                            "Synth-Classify",
                            &[("top1", top1), ("unseen_top1", unseen)],
                            classification(),
                        ),
                    ],
                )
            })
            .collect()
    }

    #[test]
    fn curves_follow_each_suite_by_alpha() {
        let tradeoff = Tradeoff::new(&evaluations(), None, None).unwrap();
        assert_eq!(tradeoff.alphas, [0.0, 0.5, 1.0]);
        assert_eq!(tradeoff.suites.len(), 2);
        assert_eq!(tradeoff.suites[0].metric, "macro_accuracy");
        assert_eq!(
            tradeoff.suites[0].values,
            [Some(0.45), Some(0.65), Some(0.85)]
        );
    }

    #[test]
    fn the_pair_defaults_to_the_first_choice_and_classification_suites() {
        let tradeoff = Tradeoff::new(&evaluations(), None, None).unwrap();
        let pair = tradeoff.pair.unwrap();
        assert_eq!(pair.x.to_string(), "Synth-Relation");
        assert_eq!(pair.y.to_string(), "Synth-Classify");
        assert_eq!(pair.x_label, "Synth-Relation: macro_accuracy");
        assert_eq!(pair.y_label, "Synth-Classify: top1");
        assert_eq!(pair.points[2], (0.85, 0.3));
    }

    #[test]
    fn a_named_metric_is_used_and_a_missing_one_is_listed() {
        let y: BestMetric = "Synth-Classify:unseen_top1".to_string().try_into().unwrap();
        let tradeoff = Tradeoff::new(&evaluations(), None, Some(&y)).unwrap();
        assert_eq!(tradeoff.pair.unwrap().points[0], (0.45, 0.3));
        let wrong: BestMetric = "Synth-Classify:ece".to_string().try_into().unwrap();
        let err = Tradeoff::new(&evaluations(), Some(&wrong), None).unwrap_err();
        assert!(err.contains("unseen_top1") && err.contains("ece"), "{err}");
    }

    #[test]
    fn plot_draws_the_curves_and_the_labelled_pair() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tradeoff.png");
        let tradeoff = Tradeoff::new(&evaluations(), None, None).unwrap();
        write_tradeoff_plot(&path, &tradeoff).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        let layout = TradeoffLayout::new(&tradeoff).unwrap();
        assert_eq!(image.dimensions(), (WIDTH, layout.height));
        // Two curves in the upper chart, in the first two colours, and their legend.
        assert!(tinted(&image, layout.curves.chart, PALETTE[0]) > 300);
        assert!(tinted(&image, layout.curves.chart, PALETTE[1]) > 300);
        assert_eq!(count(&image, layout.curves.chart, PALETTE[2]), 0);
        assert!(tinted(&image, layout.curves.legend, PALETTE[1]) > 20);
        // Three points in the lower chart, each a filled disc of radius 5.
        let discs = count(&image, layout.pair, PALETTE[1]);
        assert!((3 * 40..=3 * 90).contains(&discs), "{discs} point pixels");
        assert!(
            tinted(&image, layout.pair, PALETTE[0]) > 100,
            "the joining line"
        );
    }

    #[test]
    fn without_a_pair_the_lower_panel_says_so() {
        let only_choice: Vec<(f64, Vec<SuiteResult>)> = evaluations()
            .into_iter()
            .map(|(a, mut r)| {
                r.truncate(1);
                (a, r)
            })
            .collect();
        let tradeoff = Tradeoff::new(&only_choice, None, None).unwrap();
        assert!(tradeoff.pair.is_none());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tradeoff.png");
        write_tradeoff_plot(&path, &tradeoff).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        let layout = TradeoffLayout::new(&tradeoff).unwrap();
        assert!(inked(&image, layout.pair) > 500);
        assert_eq!(count(&image, layout.pair, PALETTE[1]), 0);
    }
}
