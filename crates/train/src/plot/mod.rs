//! Plots of a run, drawn with `plotters` into an in-memory RGB buffer, encoded as PNG with
//! `image` and written atomically. Text is set in DejaVu Sans, embedded in the binary
//! (`assets/DejaVuSans.ttf`), so a plot needs no system font and looks the same everywhere;
//! plotters measures it (the font is registered with its ab_glyph support) and `Canvas`,
//! the bitmap backend with its own text drawing, draws it.
//!
//! `metrics.png` ([`write_plot`]), 1200 px wide, as high as its panels need:
//! - top, full width: the training loss by step. Every logged record is a thin light line;
//!   on top of it, an exponential moving average over the logged records (α = 0.1,
//!   [`EMA_ALPHA`]), started at the first record.
//! - below, one panel per suite family ([`family`]: a suite with its held-out split, its
//!   seeds, or its subsets) in a grid of up to three columns: each suite's headline number
//!   ([`crate::suites::primary`]) by epoch, epoch 0 being the evaluation before the first
//!   step (`"epoch": null`). The y axis names the metric; epoch ticks are whole numbers
//!   (the evaluated epochs themselves when there are few). Single seeds of an order set are
//!   thin lines under their mean.
//!
//! Legends sit in a strip under each panel's axes, never over the data; they name a suite
//! by what the panel's title does not already say (`add_att`, `seed1`). A panel with
//! nothing to draw (no training records, no evaluations) says so instead of failing.
//!
//! [`write_reliability_plots`] draws a reliability diagram per classification suite (one
//! curve per checkpoint, or the run's first and last evaluation).
//!
//! [`write_comparison_plot`] draws `negclip eval`'s checkpoints side by side: one panel per
//! suite, one bar per checkpoint with its value written above it ("n/a" where the suite was
//! not evaluated), and a legend of the checkpoints at the top.
//!
//! [`write_tradeoff_plot`] draws `negclip eval --interpolate`'s WiSE-FT curves: each suite's
//! headline number against α, and one compositional number against one robustness number,
//! a labelled point per α.
//!
//! The rooms: `text` sets a line of text with ab_glyph, `canvas` is the plotters backend that
//! draws it, `layout` places panels, legends and ticks; `metrics`, `comparison`,
//! `reliability` and `tradeoff` are one figure each.

use std::error::Error;
use std::path::Path;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::TrainError;
use crate::io::write_file;

mod canvas;
mod comparison;
mod layout;
mod metrics;
mod reliability;
mod text;
mod tradeoff;

pub use comparison::write_comparison_plot;
pub use metrics::{family, write_plot};
pub use reliability::write_reliability_plots;
pub use tradeoff::{default_pair, write_tradeoff_plot, SuiteCurve, Tradeoff, TradeoffPair};

use canvas::Canvas;

/// Width of every plot.
pub const WIDTH: u32 = 1200;
/// Smoothing factor of the loss's moving average.
pub const EMA_ALPHA: f64 = 0.1;

/// Height of a family's chart or a suite's bar chart (without the legend).
const PANEL_CHART: u32 = 330;
/// Height of a panel saying that there is nothing to draw.
const EMPTY_CHART: u32 = 160;
/// Space around a chart inside its panel.
const MARGIN: u32 = 12;
/// Width of the y tick labels and the y axis name, left of a chart.
const Y_LABELS: u32 = 72;
/// Height of the x tick labels and the x axis name, under a chart.
const X_LABELS: u32 = 52;

/// Text sizes in pixels from the font's ascent to its descent (ab_glyph's and plotters'
/// scale); the em is about 0.86 of it.
const TITLE_TEXT: u32 = 19;
const AXIS_TEXT: u32 = 17;
const TICK_TEXT: u32 = 16;
const LEGEND_TEXT: u32 = 16;

const TEXT: RGBColor = RGBColor(40, 40, 40);
const GRID_BOLD: RGBColor = RGBColor(220, 220, 220);
/// Matplotlib's `tab10`: one colour per suite of a family, or per checkpoint.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

type Area<'a> = DrawingArea<Canvas<'a>, Shift>;
type Drawn = Result<(), Box<dyn Error>>;

/// Draw into a white `WIDTH` × `height` RGB image.
fn render(height: u32, draw: impl FnOnce(&Area) -> Drawn) -> Result<RgbImage, Box<dyn Error>> {
    let font = text::font()?;
    let mut buffer = vec![255u8; WIDTH as usize * height as usize * 3];
    {
        let root = Canvas::new(&mut buffer, (WIDTH, height), font).into_drawing_area();
        draw(&root)?;
        root.present()?;
    }
    Ok(RgbImage::from_raw(WIDTH, height, buffer).expect("the buffer has the image's size"))
}

/// Draw with `image` and write the PNG to `path`.
fn write_image(
    path: &Path,
    image: impl FnOnce() -> Result<RgbImage, Box<dyn Error>>,
) -> Result<(), TrainError> {
    let image = image().map_err(|e| TrainError::Draw {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut bytes = Vec::new();
    image
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

/// Pixel counts the figures' tests check their images with.
#[cfg(test)]
mod pixels {
    use image::RgbImage;
    use plotters::style::RGBColor;

    use super::layout::Rect;

    /// Pixels of `colour` inside `rect`.
    pub fn count(image: &RgbImage, rect: Rect, colour: RGBColor) -> usize {
        let RGBColor(r, g, b) = colour;
        (rect.y..rect.y + rect.h)
            .flat_map(|y| (rect.x..rect.x + rect.w).map(move |x| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0 == [r, g, b])
            .count()
    }

    /// Pixels of `colour` drawn over white with an opacity of at least a half inside `rect`:
    /// lines are anti-aliased, so their pixels are tints of their colour.
    pub fn tinted(image: &RgbImage, rect: Rect, colour: RGBColor) -> usize {
        let RGBColor(r, g, b) = colour;
        let target = [r, g, b].map(f64::from);
        let depth = target.map(|c| 255.0 - c);
        let channel = (0..3)
            .max_by(|&i, &j| depth[i].total_cmp(&depth[j]))
            .unwrap();
        (rect.y..rect.y + rect.h)
            .flat_map(|y| (rect.x..rect.x + rect.w).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let pixel = image.get_pixel(x, y).0.map(f64::from);
                let alpha = (255.0 - pixel[channel]) / depth[channel];
                (0.5..=1.01).contains(&alpha)
                    && (0..3).all(|i| (255.0 - alpha * depth[i] - pixel[i]).abs() <= 3.0)
            })
            .count()
    }

    /// Pixels that are not white inside `rect`.
    pub fn inked(image: &RgbImage, rect: Rect) -> usize {
        (rect.y..rect.y + rect.h)
            .flat_map(|y| (rect.x..rect.x + rect.w).map(move |x| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0 != [255, 255, 255])
            .count()
    }
}
