//! `metrics.png`: training loss by step (left) and each suite's headline score by epoch
//! (right), drawn straight into pixels so the plot needs no font or plotting library.

use std::path::Path;

use image::{Rgb, RgbImage};
use serde_json::Value;

use crate::error::TrainError;
use crate::evaluate::SuiteResult;
use crate::run::write_file;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 360;
const PANEL: u32 = 480;
const MARGIN: u32 = 40;
const PALETTE: [[u8; 3]; 8] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
];

/// A named series of (x, y) points.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

/// Draw the plot of a run's `metrics.jsonl` records.
pub fn write_plot(path: &Path, records: &[Value]) -> Result<(), TrainError> {
    let mut canvas = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([255, 255, 255]));
    let loss = Series {
        name: "train loss".into(),
        points: records
            .iter()
            .filter(|r| r["kind"] == "train")
            .filter_map(|r| Some((r["step"].as_f64()?, r["loss"].as_f64()?)))
            .collect(),
    };
    draw_panel(&mut canvas, 0, "LOSS BY STEP", &[loss], false);
    draw_panel(
        &mut canvas,
        PANEL,
        "EVAL BY EPOCH",
        &eval_series(records),
        true,
    );
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(canvas)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|source| TrainError::Plot {
            path: path.to_path_buf(),
            source,
        })?;
    write_file(path, &bytes)
}

/// One series per suite: its headline number at each evaluation (epoch 0 = before training).
fn eval_series(records: &[Value]) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for record in records.iter().filter(|r| r["kind"] == "eval") {
        let epoch = record["epoch"].as_f64().unwrap_or(0.0);
        let results: Vec<SuiteResult> =
            serde_json::from_value(record["suites"].clone()).unwrap_or_default();
        for result in results {
            let Some((_, value)) = crate::suites::primary(&result) else {
                continue;
            };
            match series.iter_mut().find(|s| s.name == result.suite) {
                Some(s) => s.points.push((epoch, value)),
                None => series.push(Series {
                    name: result.suite.clone(),
                    points: vec![(epoch, value)],
                }),
            }
        }
    }
    series
}

fn draw_panel(canvas: &mut RgbImage, left: u32, title: &str, series: &[Series], unit_range: bool) {
    let (x0, x1) = (left + MARGIN, left + PANEL - 16);
    let (y0, y1) = (HEIGHT - MARGIN, 28);
    let black = Rgb([0, 0, 0]);
    text(canvas, left + MARGIN, 8, title, black);
    line(canvas, (x0, y0), (x1, y0), black);
    line(canvas, (x0, y0), (x0, y1), black);
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        xmin = xmin.min(x);
        xmax = xmax.max(x);
        ymin = ymin.min(y);
        ymax = ymax.max(y);
    }
    if xmin > xmax {
        text(canvas, x0 + 10, (y0 + y1) / 2, "NO DATA", black);
        return;
    }
    if unit_range {
        (ymin, ymax) = (0.0, 1.0);
    }
    if xmax == xmin {
        xmax = xmin + 1.0;
    }
    if ymax == ymin {
        ymax = ymin + 1.0;
    }
    text(canvas, left + 2, y1, &format!("{ymax:.2}"), black);
    text(canvas, left + 2, y0 - 7, &format!("{ymin:.2}"), black);
    text(canvas, x0, y0 + 6, &format!("{xmin:.0}"), black);
    text(canvas, x1 - 30, y0 + 6, &format!("{xmax:.0}"), black);
    let project = |(x, y): (f64, f64)| {
        let px = x0 as f64 + (x - xmin) / (xmax - xmin) * (x1 - x0) as f64;
        let py = y0 as f64 - (y - ymin) / (ymax - ymin) * (y0 - y1) as f64;
        (px.round() as u32, py.round() as u32)
    };
    for (i, s) in series.iter().enumerate() {
        let colour = Rgb(PALETTE[i % PALETTE.len()]);
        for pair in s.points.windows(2) {
            line(canvas, project(pair[0]), project(pair[1]), colour);
        }
        for &p in &s.points {
            let (px, py) = project(p);
            for dx in 0..3 {
                for dy in 0..3 {
                    put(
                        canvas,
                        (px + dx).wrapping_sub(1),
                        (py + dy).wrapping_sub(1),
                        colour,
                    );
                }
            }
        }
        if series.len() > 1 || unit_range {
            let ly = y1 + 4 + 10 * i as u32;
            text(canvas, x0 + 8, ly, &s.name.to_uppercase(), colour);
        }
    }
}

fn put(canvas: &mut RgbImage, x: u32, y: u32, colour: Rgb<u8>) {
    if x < canvas.width() && y < canvas.height() {
        canvas.put_pixel(x, y, colour);
    }
}

fn line(canvas: &mut RgbImage, a: (u32, u32), b: (u32, u32), colour: Rgb<u8>) {
    let steps = (a.0.abs_diff(b.0)).max(a.1.abs_diff(b.1)).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let x = a.0 as f64 + (b.0 as f64 - a.0 as f64) * t;
        let y = a.1 as f64 + (b.1 as f64 - a.1 as f64) * t;
        put(canvas, x.round() as u32, y.round() as u32, colour);
    }
}

/// Draw upper-case text in a 5×7 pixel font; characters without a glyph are skipped.
fn text(canvas: &mut RgbImage, x: u32, y: u32, s: &str, colour: Rgb<u8>) {
    for (i, c) in s.chars().enumerate() {
        let Some(rows) = glyph(c) else { continue };
        for (dy, row) in rows.iter().enumerate() {
            for dx in 0..5 {
                if row & (0b10000 >> dx) != 0 {
                    put(canvas, x + 6 * i as u32 + dx, y + dy as u32, colour);
                }
            }
        }
    }
}

fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c.to_ascii_uppercase() {
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [31, 2, 4, 2, 1, 17, 14],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        'A' => [14, 17, 17, 31, 17, 17, 17],
        'B' => [30, 17, 17, 30, 17, 17, 30],
        'C' => [14, 17, 16, 16, 16, 17, 14],
        'D' => [28, 18, 17, 17, 17, 18, 28],
        'E' => [31, 16, 16, 30, 16, 16, 31],
        'F' => [31, 16, 16, 30, 16, 16, 16],
        'G' => [14, 17, 16, 23, 17, 17, 15],
        'H' => [17, 17, 17, 31, 17, 17, 17],
        'I' => [14, 4, 4, 4, 4, 4, 14],
        'J' => [7, 2, 2, 2, 2, 18, 12],
        'K' => [17, 18, 20, 24, 20, 18, 17],
        'L' => [16, 16, 16, 16, 16, 16, 31],
        'M' => [17, 27, 21, 21, 17, 17, 17],
        'N' => [17, 17, 25, 21, 19, 17, 17],
        'O' => [14, 17, 17, 17, 17, 17, 14],
        'P' => [30, 17, 17, 30, 16, 16, 16],
        'Q' => [14, 17, 17, 17, 21, 18, 13],
        'R' => [30, 17, 17, 30, 20, 18, 17],
        'S' => [15, 16, 16, 14, 1, 1, 30],
        'T' => [31, 4, 4, 4, 4, 4, 4],
        'U' => [17, 17, 17, 17, 17, 17, 14],
        'V' => [17, 17, 17, 17, 17, 10, 4],
        'W' => [17, 17, 17, 21, 21, 21, 10],
        'X' => [17, 17, 10, 4, 10, 17, 17],
        'Y' => [17, 17, 10, 4, 4, 4, 4],
        'Z' => [31, 1, 2, 4, 8, 16, 31],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        '/' => [1, 1, 2, 4, 8, 16, 16],
        '_' => [0, 0, 0, 0, 0, 0, 31],
        '@' => [14, 17, 23, 21, 23, 16, 15],
        ' ' => [0; 7],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plot_is_a_png_with_both_panels_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![
            json!({"kind": "train", "step": 1, "loss": 2.0}),
            json!({"kind": "train", "step": 2, "loss": 1.0}),
            json!({"kind": "eval", "step": 0, "epoch": null, "suites": [
                {"suite": "Synth-Relation", "metrics": {"accuracy": 0.5}, "report": null}]}),
            json!({"kind": "eval", "step": 2, "epoch": 1, "suites": [
                {"suite": "Synth-Relation", "metrics": {"accuracy": 0.9}, "report": null}]}),
        ];
        let path = dir.path().join("m.png");
        write_plot(&path, &records).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (WIDTH, HEIGHT));
        let coloured = |x0: u32, x1: u32| {
            (x0..x1).any(|x| (0..HEIGHT).any(|y| image.get_pixel(x, y).0 == PALETTE[0]))
        };
        assert!(coloured(MARGIN + 1, PANEL), "loss curve drawn");
        assert!(coloured(PANEL + MARGIN + 1, WIDTH), "eval curve drawn");
    }
}
