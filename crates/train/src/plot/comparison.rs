//! `negclip eval`'s comparison plot: one panel per suite, one bar per checkpoint.

use std::error::Error;
use std::path::Path;

use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::{
    bottom, chart_builder, decimals, draw_empty, draw_legend, grid, legend_height, legend_rows,
    mesh_look, nice_step, sub_area, ticks, Entry, Panel, Rect, Swatch, Ticked,
};
use super::text::text;
use super::{
    render, write_image, Area, Drawn, EMPTY_CHART, PALETTE, PANEL_CHART, TITLE_TEXT, WIDTH,
};
use crate::error::TrainError;
use crate::evaluate::SuiteResult;

/// Height of the comparison plot's title line.
const TITLE: u32 = 40;
const VALUE_TEXT: u32 = 15;

/// Draw `negclip eval`'s results: `columns` are (checkpoint label, its results).
pub fn write_comparison_plot(
    path: &Path,
    columns: &[(String, Vec<SuiteResult>)],
) -> Result<(), TrainError> {
    write_image(path, || comparison_image(columns))
}

/// A suite's headline number under each checkpoint (`None` where it was not evaluated).
struct Bars {
    suite: String,
    metric: String,
    values: Vec<Option<f64>>,
}

fn bars(columns: &[(String, Vec<SuiteResult>)]) -> Vec<Bars> {
    let mut out: Vec<Bars> = Vec::new();
    for (column, (_, results)) in columns.iter().enumerate() {
        for result in results {
            let Some((metric, value)) = crate::suites::primary(result) else {
                continue;
            };
            let index = match out.iter().position(|b| b.suite == result.suite) {
                Some(index) => index,
                None => {
                    out.push(Bars {
                        suite: result.suite.clone(),
                        metric,
                        values: vec![None; columns.len()],
                    });
                    out.len() - 1
                }
            };
            out[index].values[column] = Some(value).filter(|v| v.is_finite());
        }
    }
    out
}

/// Where the comparison plot draws what.
struct ComparisonLayout {
    height: u32,
    /// The legend of checkpoints, under the title.
    legend: Rect,
    /// One panel per suite (their legend strips are empty); one "no data" panel if none.
    suites: Vec<Panel>,
}

impl ComparisonLayout {
    fn new(labels: &[&str], suites: usize) -> Result<ComparisonLayout, Box<dyn Error>> {
        let legend = Rect {
            x: 0,
            y: TITLE,
            w: WIDTH,
            h: legend_height(legend_rows(labels, WIDTH)?.len()),
        };
        let top = legend.y + legend.h;
        let panels = if suites == 0 {
            grid(top, EMPTY_CHART, &[0])
        } else {
            grid(top, PANEL_CHART, &vec![0; suites])
        };
        Ok(ComparisonLayout {
            height: bottom(&panels),
            legend,
            suites: panels,
        })
    }
}

fn comparison_image(columns: &[(String, Vec<SuiteResult>)]) -> Result<RgbImage, Box<dyn Error>> {
    let bars = bars(columns);
    let labels: Vec<&str> = columns.iter().map(|(label, _)| label.as_str()).collect();
    let layout = ComparisonLayout::new(&labels, bars.len())?;
    render(layout.height, |root| {
        root.draw(&Text::new(
            "Checkpoints by suite",
            ((WIDTH / 2) as i32, (TITLE / 2 + 4) as i32),
            text(TITLE_TEXT + 2).pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
        let entries: Vec<Entry> = labels
            .iter()
            .enumerate()
            .map(|(i, label)| Entry {
                label,
                colour: PALETTE[i % PALETTE.len()],
                swatch: Swatch::Bar,
            })
            .collect();
        draw_legend(&sub_area(root, layout.legend), &entries)?;
        if bars.is_empty() {
            return draw_empty(
                &sub_area(root, layout.suites[0].chart),
                "Suites",
                "no data: no suite results to compare",
            );
        }
        for (suite, panel) in bars.iter().zip(&layout.suites) {
            draw_bars(&sub_area(root, panel.chart), suite)?;
        }
        Ok(())
    })
}

fn draw_bars(area: &Area, bars: &Bars) -> Drawn {
    let present: Vec<f64> = bars.values.iter().flatten().copied().collect();
    let lo = present.iter().copied().fold(0.0, f64::min);
    let hi = present.iter().copied().fold(0.0, f64::max);
    // Scores in [0, 1] keep the whole range; room is left above the bars for their values.
    let top = if lo >= 0.0 && hi <= 1.0 {
        1.0
    } else {
        hi.max(1e-9)
    };
    let step = nice_step(top - lo, 6);
    let y_decimals = decimals(step);
    let y = Ticked::new(lo..top + (top - lo) * 0.12, ticks(lo, top + 1e-9, step));
    // At least three bar widths, so one or two bars are not drawn as wide as the panel.
    let n = bars.values.len() as f64;
    let pad = ((3.0 - n) / 2.0).max(0.0);
    let x = Ticked::new(-pad..n + pad, Vec::new());
    let mut chart = chart_builder(area, &bars.suite)
        .x_label_area_size(12)
        .build_cartesian_2d(x, y)?;
    mesh_look(&mut chart.configure_mesh())
        .disable_x_mesh()
        .y_desc(&bars.metric)
        .y_label_formatter(&|y| format!("{y:.y_decimals$}"))
        .draw()?;
    for (i, value) in bars.values.iter().enumerate() {
        let centre = i as f64 + 0.5;
        let label = match value {
            Some(v) => {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(centre - 0.35, 0.0), (centre + 0.35, *v)],
                    PALETTE[i % PALETTE.len()].filled(),
                )))?;
                format!("{v:.3}")
            }
            None => "n/a".to_string(),
        };
        let at = value.unwrap_or(0.0).max(0.0);
        chart.draw_series(std::iter::once(
            EmptyElement::at((centre, at))
                + Text::new(
                    label,
                    (0, -5),
                    text(VALUE_TEXT).pos(Pos::new(HPos::Center, VPos::Bottom)),
                ),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::Report;
    use crate::plot::pixels::{count, inked};

    fn result(name: &str, metric: &str, value: f64) -> SuiteResult {
        SuiteResult {
            suite: name.to_string(),
            metrics: [(metric.to_string(), value)].into(),
            report: Report::None,
        }
    }

    #[test]
    fn comparison_has_one_bar_colour_per_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eval.png");
        let columns = vec![
            (
                "base".to_string(),
                vec![
                    result("Synth-Relation", "macro_accuracy", 0.5),
                    result("coco-retrieval", "text_to_image/1", 0.3),
                ],
            ),
            (
                "epoch-004".to_string(),
                vec![
                    result("Synth-Relation", "macro_accuracy", 0.8),
                    result("coco-retrieval", "text_to_image/1", 0.35),
                ],
            ),
            (
                "final".to_string(),
                vec![result("Synth-Relation", "macro_accuracy", 0.9)],
            ),
        ];
        write_comparison_plot(&path, &columns).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        let layout = ComparisonLayout::new(&["base", "epoch-004", "final"], 2).unwrap();
        assert_eq!(image.dimensions(), (WIDTH, layout.height));
        let [relation, retrieval] = [layout.suites[0].chart, layout.suites[1].chart];
        for colour in &PALETTE[..3] {
            assert!(count(&image, relation, *colour) > 1000, "{colour:?}");
            assert!(count(&image, layout.legend, *colour) > 50, "{colour:?}");
        }
        assert_eq!(count(&image, relation, PALETTE[3]), 0);
        // "final" has no retrieval result: two bars there.
        assert!(count(&image, retrieval, PALETTE[0]) > 1000);
        assert!(count(&image, retrieval, PALETTE[1]) > 1000);
        assert_eq!(count(&image, retrieval, PALETTE[2]), 0);
        // Taller bars for higher values.
        assert!(
            count(&image, relation, PALETTE[2]) > count(&image, relation, PALETTE[0]),
            "0.9 is drawn taller than 0.5"
        );
    }

    #[test]
    fn empty_comparison_gives_a_readable_plot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eval.png");
        write_comparison_plot(&path, &[]).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        let layout = ComparisonLayout::new(&[], 0).unwrap();
        assert_eq!(image.dimensions(), (WIDTH, layout.height));
        assert!(inked(&image, layout.suites[0].chart) > 500);
    }
}
