//! Reliability diagrams of the classification suites: per checkpoint or evaluation, each
//! confidence bin's accuracy against its mean confidence, beside the diagonal a calibrated
//! model follows.

use std::error::Error;
use std::path::{Path, PathBuf};

use image::RgbImage;
use negclip_data::metrics::classification::Calibration;
use plotters::prelude::*;

use super::layout::{
    chart_builder, draw_legend, legend_height, legend_rows, mesh_look, sub_area, ticks, Entry,
    Rect, Swatch, Ticked,
};
use super::{render, write_image, MARGIN, PALETTE, WIDTH, X_LABELS};
use crate::error::TrainError;
use crate::evaluate::SuiteResult;

/// Height of the reliability chart (without its legend).
const RELIABILITY_CHART: u32 = 640;
const DIAGONAL: RGBColor = RGBColor(150, 150, 150);

/// Draw a reliability diagram per classification suite of the first column,
/// `<dir>/<prefix><suite>.png`: per column (checkpoint or epoch) that evaluated the suite, each
/// non-empty confidence bin's accuracy against its mean confidence, with the diagonal a
/// calibrated model follows. Returns the files written.
pub fn write_reliability_plots(
    dir: &Path,
    prefix: &str,
    columns: &[(String, Vec<SuiteResult>)],
) -> Result<Vec<PathBuf>, TrainError> {
    let mut written = Vec::new();
    let Some((_, first)) = columns.first() else {
        return Ok(written);
    };
    for suite in first.iter().filter(|r| r.report.calibration().is_some()) {
        // A column whose ECE is not a number (written as `null`) has no curve.
        let curves: Vec<Curve> = columns
            .iter()
            .filter_map(|(label, results)| {
                let result = results.iter().find(|r| r.suite == suite.suite)?;
                let calibration = result.report.calibration()?;
                calibration
                    .ece
                    .is_finite()
                    .then_some(Curve { label, calibration })
            })
            .collect();
        let name: String = suite
            .suite
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{prefix}{name}.png"));
        write_image(&path, || reliability_image(&suite.suite, &curves))?;
        written.push(path);
    }
    Ok(written)
}

/// One curve of a reliability diagram.
struct Curve<'a> {
    label: &'a str,
    calibration: &'a Calibration,
}

fn reliability_image(suite: &str, curves: &[Curve]) -> Result<RgbImage, Box<dyn Error>> {
    let labels: Vec<String> = curves
        .iter()
        .map(|c| format!("{} (ECE {:.4})", c.label, c.calibration.ece))
        .chain(std::iter::once("perfect calibration".to_string()))
        .collect();
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let legend_h = legend_height(legend_rows(&label_refs, WIDTH)?.len());
    render(RELIABILITY_CHART + legend_h, |root| {
        let chart_area = sub_area(
            root,
            Rect {
                x: 0,
                y: 0,
                w: WIDTH,
                h: RELIABILITY_CHART,
            },
        );
        let legend_area = sub_area(
            root,
            Rect {
                x: 0,
                y: RELIABILITY_CHART,
                w: WIDTH,
                h: legend_h,
            },
        );
        let unit = || Ticked::new(0.0..1.0, ticks(0.0, 1.0, 0.1));
        let title = format!("{suite}: reliability (15 equal-width confidence bins)");
        let mut chart = chart_builder(&chart_area, &title)
            .margin_right(MARGIN + 20)
            .x_label_area_size(X_LABELS)
            .build_cartesian_2d(unit(), unit())?;
        mesh_look(&mut chart.configure_mesh())
            .x_desc("confidence (mean of the bin)")
            .y_desc("accuracy")
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            DIAGONAL.stroke_width(1),
        ))?;
        let mut entries = Vec::new();
        for (i, (curve, label)) in curves.iter().zip(&labels).enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let points: Vec<(f64, f64)> = curve
                .calibration
                .bins
                .iter()
                .filter_map(|b| Some((b.confidence?, b.accuracy?)))
                .collect();
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?;
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
            entries.push(Entry {
                label,
                colour,
                swatch: Swatch::Line(2, 4),
            });
        }
        entries.push(Entry {
            label: labels.last().expect("the diagonal's label"),
            colour: DIAGONAL,
            swatch: Swatch::Line(1, 0),
        });
        draw_legend(&legend_area, &entries)
    })
}
