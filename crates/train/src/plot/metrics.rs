//! `metrics.png`: the training loss by step over the suites' headline numbers by epoch, one
//! panel per suite family.

use std::error::Error;
use std::path::Path;

use image::RgbImage;
use plotters::prelude::*;

use super::layout::{
    bottom, chart_builder, decimals, draw_empty, draw_legend, grid, grid_columns, legend_height,
    legend_rows, mesh_look, nice_step, sub_area, ticks, Entry, Panel, Rect, Swatch, Ticked,
};
use super::{
    render, write_image, Area, Drawn, EMA_ALPHA, EMPTY_CHART, MARGIN, PALETTE, PANEL_CHART, WIDTH,
    X_LABELS,
};
use crate::error::TrainError;
use crate::log::Record;

/// Height of the loss chart (without its legend).
const LOSS_CHART: u32 = 400;
/// The raw loss: a light version of the first palette colour, which draws its average.
const RAW_LOSS: RGBColor = RGBColor(174, 199, 232);

/// The family a suite belongs to, that is the panel of `metrics.png` it is drawn in:
/// - `<name>@seed<k>` (an order set under one of its seeds) → `<name>`, the family of the
///   seeds' mean, which is reported as `<name>`;
/// - `<name>-heldout` (a synthetic suite on the world's held-out split) → `<name>`;
/// - `sugarcrepe/<subset>` (the seven SugarCrepe subsets) → `sugarcrepe`;
/// - any other suite (`vg-relation`, `coco-retrieval`, `Synth-Retrieval`, …) is a family of
///   its own.
pub fn family(suite: &str) -> &str {
    let base = suite.split_once("@seed").map_or(suite, |(base, _)| base);
    let base = base.strip_suffix("-heldout").unwrap_or(base);
    base.split_once('/').map_or(base, |(base, _)| base)
}

/// Draw `metrics.png` from a run's `metrics.jsonl` records.
pub fn write_plot(path: &Path, records: &[Record]) -> Result<(), TrainError> {
    let loss = train_loss(records);
    let families = families(records);
    write_image(path, || metrics_image(&loss, &families))
}

/// (step, loss) of every training record.
fn train_loss(records: &[Record]) -> Vec<(f64, f64)> {
    records
        .iter()
        .filter_map(|record| match record {
            Record::Train(train) => Some((train.step as f64, train.loss)),
            Record::Eval(_) | Record::Time(_) => None,
        })
        .filter(|(_, loss)| loss.is_finite())
        .collect()
}

/// Exponential moving average of the y values, started at the first point.
fn ema(points: &[(f64, f64)], alpha: f64) -> Vec<(f64, f64)> {
    let mut average = None;
    points
        .iter()
        .map(|&(x, y)| {
            let next = match average {
                None => y,
                Some(a) => a + alpha * (y - a),
            };
            average = Some(next);
            (x, next)
        })
        .collect()
}

/// One suite's headline number by epoch.
struct Line {
    suite: String,
    points: Vec<(f64, f64)>,
}

/// The suites drawn in one panel.
struct Family {
    name: String,
    /// The headline metric's name (several joined by " / " if the suites differ).
    metric: String,
    lines: Vec<Line>,
}

impl Family {
    /// Legend labels of the lines: the part of a suite's name the panel's title does not
    /// already say (`add_att` for `sugarcrepe/add_att`, `seed1` for `coco-order@seed1`);
    /// a family's own suite is its seeds' mean where there are seeds.
    fn labels(&self) -> Vec<String> {
        let seeded = self.lines.iter().any(|l| is_seed(&l.suite));
        self.lines
            .iter()
            .map(|line| {
                let suite = line.suite.as_str();
                match suite.strip_prefix(self.name.as_str()) {
                    Some("") if seeded => format!("{suite} (mean of seeds)"),
                    Some(rest) if rest.starts_with('/') || rest.starts_with('@') => {
                        rest[1..].to_string()
                    }
                    _ => suite.to_string(),
                }
            })
            .collect()
    }
}

/// A suite under one seed of several is drawn thin, so their mean stands out.
fn is_seed(suite: &str) -> bool {
    suite.contains("@seed")
}

/// The families of the evaluation records, in the order their suites first appear.
fn families(records: &[Record]) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    for record in records {
        let Record::Eval(eval) = record else {
            continue;
        };
        let epoch = eval.epoch.map_or(0.0, |e| e as f64);
        for result in &eval.suites {
            let Some((metric, value)) = crate::suites::primary(result) else {
                continue;
            };
            if !value.is_finite() {
                continue;
            }
            let name = family(&result.suite);
            let index = match families.iter().position(|f| f.name == name) {
                Some(index) => index,
                None => {
                    families.push(Family {
                        name: name.to_string(),
                        metric: metric.clone(),
                        lines: Vec::new(),
                    });
                    families.len() - 1
                }
            };
            let family = &mut families[index];
            if !family.metric.split(" / ").any(|m| m == metric) {
                family.metric = format!("{} / {metric}", family.metric);
            }
            match family.lines.iter_mut().find(|l| l.suite == result.suite) {
                Some(line) => line.points.push((epoch, value)),
                None => family.lines.push(Line {
                    suite: result.suite.clone(),
                    points: vec![(epoch, value)],
                }),
            }
        }
    }
    for line in families.iter_mut().flat_map(|f| f.lines.iter_mut()) {
        line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    families
}

/// Where `metrics.png` draws what.
struct MetricsLayout {
    height: u32,
    loss: Panel,
    /// One panel per family; a single "no data" panel when there is none.
    families: Vec<Panel>,
}

impl MetricsLayout {
    fn new(families: &[Family]) -> Result<MetricsLayout, Box<dyn Error>> {
        let loss = Panel {
            chart: Rect {
                x: 0,
                y: 0,
                w: WIDTH,
                h: LOSS_CHART,
            },
            legend: Rect {
                x: 0,
                y: LOSS_CHART,
                w: WIDTH,
                h: legend_height(1),
            },
        };
        let top = loss.legend.y + loss.legend.h;
        let panels = if families.is_empty() {
            grid(top, EMPTY_CHART, &[0])
        } else {
            let width = WIDTH / grid_columns(families.len()) as u32;
            let mut legends = Vec::new();
            for family in families {
                let labels = family.labels();
                let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                legends.push(legend_height(legend_rows(&labels, width)?.len()));
            }
            grid(top, PANEL_CHART, &legends)
        };
        Ok(MetricsLayout {
            height: bottom(&panels),
            loss,
            families: panels,
        })
    }
}

/// Epoch ticks: the evaluated epochs themselves when there are few and they are far enough
/// apart, else every whole multiple of a round step.
fn epoch_ticks(epochs: &[f64]) -> Vec<f64> {
    let last = epochs.iter().copied().fold(1.0, f64::max);
    let spread = epochs.windows(2).all(|w| w[1] - w[0] >= last / 12.0);
    if (2..=10).contains(&epochs.len()) && spread {
        return epochs.to_vec();
    }
    ticks(0.0, last, nice_step(last, 10).max(1.0))
}

/// A y range around `values` with a margin; scores in [0, 1] stay within it unless a point
/// sits on its edge.
fn score_range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.1).max(0.02);
    let mut range = (lo - pad, hi + pad);
    if lo >= 0.0 {
        range.0 = range.0.max(0.0).min(lo - 0.01);
    }
    if hi <= 1.0 {
        range.1 = range.1.min(1.0).max(hi + 0.01);
    }
    range
}

fn metrics_image(loss: &[(f64, f64)], families: &[Family]) -> Result<RgbImage, Box<dyn Error>> {
    let layout = MetricsLayout::new(families)?;
    render(layout.height, |root| {
        draw_loss(
            &sub_area(root, layout.loss.chart),
            &sub_area(root, layout.loss.legend),
            loss,
        )?;
        if families.is_empty() {
            return draw_empty(
                &sub_area(root, layout.families[0].chart),
                "Evaluation suites by epoch",
                "no data: no evaluation recorded yet",
            );
        }
        for (family, panel) in families.iter().zip(&layout.families) {
            draw_family(
                &sub_area(root, panel.chart),
                &sub_area(root, panel.legend),
                family,
            )?;
        }
        Ok(())
    })
}

fn draw_loss(chart_area: &Area, legend_area: &Area, loss: &[(f64, f64)]) -> Drawn {
    let title = "Training loss";
    if loss.is_empty() {
        return draw_empty(chart_area, title, "no data: no training record yet");
    }
    let (mut x0, mut x1) = (loss[0].0, loss[loss.len() - 1].0);
    if x0 > 0.0 && x0 <= 0.05 * x1 {
        x0 = 0.0;
    }
    if x1 <= x0 {
        (x0, x1) = (x0 - 1.0, x0 + 1.0);
    }
    let lo = loss.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = loss.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.05).max(1e-3 * hi.abs().max(1.0));
    let (y0, y1) = (lo - pad, hi + pad);
    let y_step = nice_step(y1 - y0, 8);
    let y_decimals = decimals(y_step);
    let mut chart = chart_builder(chart_area, title)
        .margin_right(MARGIN + 20)
        .x_label_area_size(X_LABELS)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    mesh_look(&mut chart.configure_mesh())
        .x_desc("step")
        .y_desc("loss")
        .x_labels(12)
        .y_labels(8)
        .max_light_lines(0)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.y_decimals$}"))
        .draw()?;
    chart.draw_series(LineSeries::new(
        loss.iter().copied(),
        RAW_LOSS.stroke_width(1),
    ))?;
    chart.draw_series(LineSeries::new(
        ema(loss, EMA_ALPHA),
        PALETTE[0].stroke_width(2),
    ))?;
    let average = format!("moving average (EMA, α = {EMA_ALPHA})");
    draw_legend(
        legend_area,
        &[
            Entry {
                label: "loss of each logged step",
                colour: RAW_LOSS,
                swatch: Swatch::Line(1, 0),
            },
            Entry {
                label: &average,
                colour: PALETTE[0],
                swatch: Swatch::Line(2, 0),
            },
        ],
    )
}

fn draw_family(chart_area: &Area, legend_area: &Area, family: &Family) -> Drawn {
    let mut epochs: Vec<f64> = family
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    epochs.sort_by(f64::total_cmp);
    epochs.dedup();
    let last = epochs.last().copied().unwrap_or(0.0).max(1.0);
    let values: Vec<f64> = family
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .collect();
    let (y0, y1) = score_range(&values);
    let y_step = nice_step(y1 - y0, 8);
    let y_decimals = decimals(y_step).max(2);
    let x = Ticked::new(-0.4..last + 0.4, epoch_ticks(&epochs));
    let y = Ticked::new(y0..y1, ticks(y0, y1, y_step));
    let mut chart = chart_builder(chart_area, &family.name)
        .margin_right(MARGIN + 8)
        .x_label_area_size(X_LABELS)
        .build_cartesian_2d(x, y)?;
    mesh_look(&mut chart.configure_mesh())
        .x_desc("epoch")
        .y_desc(&family.metric)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.y_decimals$}"))
        .draw()?;
    let labels = family.labels();
    let mut entries = Vec::new();
    for (i, (line, label)) in family.lines.iter().zip(&labels).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let (width, radius) = if is_seed(&line.suite) { (1, 2) } else { (2, 4) };
        chart.draw_series(LineSeries::new(
            line.points.iter().copied(),
            colour.stroke_width(width),
        ))?;
        chart.draw_series(
            line.points
                .iter()
                .map(|&p| Circle::new(p, radius, colour.filled())),
        )?;
        entries.push(Entry {
            label,
            colour,
            swatch: Swatch::Line(width, radius),
        });
    }
    draw_legend(legend_area, &entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::{Report, SuiteResult};
    use crate::log::{EvalRecord, TrainRecord};
    use crate::plot::pixels::{count, inked, tinted};

    fn suite(name: &str, metric: &str, value: f64) -> SuiteResult {
        SuiteResult {
            suite: name.to_string(),
            metrics: [(metric.to_string(), value)].into(),
            report: Report::None,
        }
    }

    fn eval(step: u64, epoch: Option<usize>, values: [f64; 3]) -> Record {
        Record::Eval(EvalRecord {
            step,
            epoch,
            sampling: None,
            suites: vec![
                suite("Synth-Relation", "macro_accuracy", values[0]),
                suite("Synth-Relation-heldout", "macro_accuracy", values[1]),
                suite("coco-order@seed1", "accuracy", values[2]),
            ],
        })
    }

    fn train(step: u64, loss: f64) -> Record {
        Record::Train(TrainRecord {
            step,
            epoch: 0,
            loss,
            loss_i2t: loss,
            loss_t2i: loss,
            lr: 1e-3,
            logit_scale: 100.0,
            grad_norm: None,
            loss_scale: None,
            skipped: false,
            images: 32,
            hard_captions: 32,
            samples_per_sec: 100.0,
        })
    }

    fn run_records() -> Vec<Record> {
        let mut records = vec![eval(0, None, [0.5, 0.48, 0.3])];
        for step in 1..=40 {
            let loss = 3.0 / (1.0 + step as f64 / 10.0) + 0.2 * ((step * 7 % 5) as f64 - 2.0);
            records.push(train(step * 10, loss));
        }
        records.push(eval(200, Some(1), [0.7, 0.6, 0.45]));
        records.push(eval(400, Some(2), [0.9, 0.65, 0.5]));
        records
    }

    #[test]
    fn families_group_splits_seeds_and_subsets() {
        assert_eq!(family("Synth-Relation"), "Synth-Relation");
        assert_eq!(family("Synth-Relation-heldout"), "Synth-Relation");
        assert_eq!(family("Synth-Retrieval"), "Synth-Retrieval");
        assert_eq!(family("coco-order@seed3"), "coco-order");
        assert_eq!(family("coco-order"), "coco-order");
        assert_eq!(family("flickr30k-order@seed1"), "flickr30k-order");
        assert_eq!(family("sugarcrepe/replace_att"), "sugarcrepe");
        assert_eq!(family("sugarcrepe/swap_obj"), "sugarcrepe");
        assert_eq!(family("vg-relation"), "vg-relation");
        assert_eq!(family("vg-attribution"), "vg-attribution");
        assert_eq!(family("coco-retrieval"), "coco-retrieval");
    }

    #[test]
    fn families_keep_suites_in_order_with_epoch_zero_before_training() {
        let families = families(&run_records());
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Synth-Relation", "coco-order"]);
        assert_eq!(families[0].metric, "macro_accuracy");
        let suites: Vec<&str> = families[0].lines.iter().map(|l| l.suite.as_str()).collect();
        assert_eq!(suites, ["Synth-Relation", "Synth-Relation-heldout"]);
        assert_eq!(
            families[0].lines[0].points,
            [(0.0, 0.5), (1.0, 0.7), (2.0, 0.9)]
        );
    }

    #[test]
    fn legend_labels_drop_what_the_title_says() {
        let family = |name: &str, suites: &[&str]| Family {
            name: name.to_string(),
            metric: "accuracy".to_string(),
            lines: suites
                .iter()
                .map(|s| Line {
                    suite: s.to_string(),
                    points: Vec::new(),
                })
                .collect(),
        };
        let order = family(
            "coco-order",
            &["coco-order@seed1", "coco-order@seed2", "coco-order"],
        );
        assert_eq!(
            order.labels(),
            ["seed1", "seed2", "coco-order (mean of seeds)"]
        );
        let sugar = family("sugarcrepe", &["sugarcrepe/add_att", "sugarcrepe/swap_obj"]);
        assert_eq!(sugar.labels(), ["add_att", "swap_obj"]);
        let synth = family("Synth-Order", &["Synth-Order", "Synth-Order-heldout"]);
        assert_eq!(synth.labels(), ["Synth-Order", "Synth-Order-heldout"]);
    }

    #[test]
    fn moving_average_starts_at_the_first_value() {
        let points = [(1.0, 2.0), (2.0, 4.0), (3.0, 4.0)];
        let smoothed = ema(&points, 0.5);
        assert_eq!(smoothed, [(1.0, 2.0), (2.0, 3.0), (3.0, 3.5)]);
    }

    #[test]
    fn epoch_ticks_are_whole_numbers() {
        assert_eq!(epoch_ticks(&[0.0, 4.0, 8.0]), [0.0, 4.0, 8.0]);
        assert_eq!(epoch_ticks(&[0.0]), [0.0, 1.0]);
        let every: Vec<f64> = (0..=22).map(f64::from).collect();
        let ticks = epoch_ticks(&every);
        assert!(ticks.len() <= 12, "{ticks:?}");
        assert!(ticks.iter().all(|t| t.fract() == 0.0), "{ticks:?}");
    }

    #[test]
    fn plot_draws_the_loss_and_each_family() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.png");
        let records = run_records();
        write_plot(&path, &records).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        let layout = MetricsLayout::new(&families(&records)).unwrap();
        // Two families side by side; their legends fit one row.
        assert_eq!(layout.families.len(), 2);
        let expected = LOSS_CHART + legend_height(1) + PANEL_CHART + legend_height(1);
        assert_eq!(image.dimensions(), (WIDTH, expected));
        // The raw loss and its average, drawn inside the chart (not only in the legend).
        assert!(tinted(&image, layout.loss.chart, RAW_LOSS) > 200);
        assert!(tinted(&image, layout.loss.chart, PALETTE[0]) > 500);
        // Synth-Relation has two lines, coco-order one.
        let [relation, order] = [layout.families[0].chart, layout.families[1].chart];
        assert!(tinted(&image, relation, PALETTE[0]) > 200);
        assert!(tinted(&image, relation, PALETTE[1]) > 200);
        assert!(tinted(&image, order, PALETTE[0]) > 200);
        assert_eq!(tinted(&image, order, PALETTE[1]), 0);
        // Legends are drawn in their strips.
        assert!(tinted(&image, layout.families[0].legend, PALETTE[1]) > 20);
        assert!(inked(&image, layout.loss.legend) > 200);
    }

    #[test]
    fn empty_records_give_a_readable_plot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.png");
        write_plot(&path, &[]).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        let layout = MetricsLayout::new(&[]).unwrap();
        assert_eq!(
            image.dimensions(),
            (WIDTH, LOSS_CHART + legend_height(1) + EMPTY_CHART)
        );
        // Titles and "no data" text in both panels.
        assert!(inked(&image, layout.loss.chart) > 500);
        assert!(inked(&image, layout.families[0].chart) > 500);
        assert_eq!(count(&image, layout.loss.chart, PALETTE[0]), 0);
    }
}
