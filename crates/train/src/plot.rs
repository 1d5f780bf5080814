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

use std::error::Error;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont};
use image::RgbImage;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};
use serde_json::Value;

use negclip_data::metrics::classification::ReliabilityBin;

use crate::error::TrainError;
use crate::evaluate::SuiteResult;
use crate::io::write_file;

/// DejaVu Sans (Bitstream Vera licence, see NOTICE), registered with plotters under [`FONT`].
const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FONT: &str = "sans-serif";

/// Width of every plot.
pub const WIDTH: u32 = 1200;
/// Smoothing factor of the loss's moving average.
pub const EMA_ALPHA: f64 = 0.1;

/// Height of the loss chart (without its legend).
const LOSS_CHART: u32 = 400;
/// Height of a family's chart or a suite's bar chart (without the legend).
const PANEL_CHART: u32 = 330;
/// Height of a panel saying that there is nothing to draw.
const EMPTY_CHART: u32 = 160;
/// Height of the comparison plot's title line.
const TITLE: u32 = 40;
const LEGEND_ROW: u32 = 24;
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
const VALUE_TEXT: u32 = 15;

const TEXT: RGBColor = RGBColor(40, 40, 40);
const GRID_BOLD: RGBColor = RGBColor(220, 220, 220);
/// The raw loss: a light version of the first palette colour, which draws its average.
const RAW_LOSS: RGBColor = RGBColor(174, 199, 232);
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
pub fn write_plot(path: &Path, records: &[Value]) -> Result<(), TrainError> {
    let loss = train_loss(records);
    let families = families(records);
    let image = metrics_image(&loss, &families).map_err(|e| plot_error(path, e))?;
    write_png(path, image)
}

/// Draw `negclip eval`'s results: `columns` are (checkpoint label, its results).
pub fn write_comparison_plot(
    path: &Path,
    columns: &[(String, Vec<SuiteResult>)],
) -> Result<(), TrainError> {
    let image = comparison_image(columns).map_err(|e| plot_error(path, e))?;
    write_png(path, image)
}

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
    for suite in first
        .iter()
        .filter(|r| r.report.get("calibration").is_some())
    {
        let curves: Vec<Curve> = columns
            .iter()
            .filter_map(|(label, results)| {
                let result = results.iter().find(|r| r.suite == suite.suite)?;
                let calibration = result.report.get("calibration")?;
                Some(Curve {
                    label: label.clone(),
                    ece: calibration.get("ece")?.as_f64()?,
                    bins: serde_json::from_value(calibration.get("bins")?.clone()).ok()?,
                })
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
        let image = reliability_image(&suite.suite, &curves).map_err(|e| plot_error(&path, e))?;
        write_png(&path, image)?;
        written.push(path);
    }
    Ok(written)
}

/// One curve of a reliability diagram.
struct Curve {
    label: String,
    ece: f64,
    bins: Vec<ReliabilityBin>,
}

fn plot_error(path: &Path, e: Box<dyn Error>) -> TrainError {
    TrainError::Draw {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn write_png(path: &Path, image: RgbImage) -> Result<(), TrainError> {
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

// ---------------------------------------------------------------------------------------
// Data

/// (step, loss) of every training record.
fn train_loss(records: &[Value]) -> Vec<(f64, f64)> {
    records
        .iter()
        .filter(|r| r["kind"] == "train")
        .filter_map(|r| Some((r["step"].as_f64()?, r["loss"].as_f64()?)))
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
fn families(records: &[Value]) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    for record in records.iter().filter(|r| r["kind"] == "eval") {
        let epoch = record["epoch"].as_f64().unwrap_or(0.0);
        let results: Vec<SuiteResult> =
            serde_json::from_value(record["suites"].clone()).unwrap_or_default();
        for result in results {
            let Some((metric, value)) = crate::suites::primary(&result) else {
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

// ---------------------------------------------------------------------------------------
// Layout

/// A rectangle of the image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

/// A panel: its chart (axes, ticks, data) and the legend strip under it.
#[derive(Debug, Clone, Copy)]
struct Panel {
    chart: Rect,
    legend: Rect,
}

/// Columns of a grid of `n` panels: up to three, two for four panels.
fn grid_columns(n: usize) -> usize {
    match n {
        0 | 1 => 1,
        2 | 4 => 2,
        _ => 3,
    }
}

/// A grid of panels starting at `top`, each `chart` high; `legends` holds the legend height
/// each panel needs, and every panel of a row gets the row's largest.
fn grid(top: u32, chart: u32, legends: &[u32]) -> Vec<Panel> {
    let columns = grid_columns(legends.len());
    let w = WIDTH / columns as u32;
    let mut panels = Vec::new();
    let mut y = top;
    for row in legends.chunks(columns) {
        let legend = row.iter().copied().max().unwrap_or(0);
        for column in 0..row.len() as u32 {
            panels.push(Panel {
                chart: Rect {
                    x: column * w,
                    y,
                    w,
                    h: chart,
                },
                legend: Rect {
                    x: column * w,
                    y: y + chart,
                    w,
                    h: legend,
                },
            });
        }
        y += chart + legend;
    }
    panels
}

fn bottom(panels: &[Panel]) -> u32 {
    panels
        .iter()
        .map(|p| p.legend.y + p.legend.h)
        .max()
        .unwrap_or(0)
}

fn legend_height(rows: usize) -> u32 {
    if rows == 0 {
        0
    } else {
        rows as u32 * LEGEND_ROW + 10
    }
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

fn sub_area<'a>(root: &Area<'a>, rect: Rect) -> Area<'a> {
    root.clone().shrink((rect.x, rect.y), (rect.w, rect.h))
}

// ---------------------------------------------------------------------------------------
// Text and legends

/// The embedded font, for plotters (which measures text with it) and for [`Canvas`] (which
/// draws it).
fn font() -> Result<&'static FontRef<'static>, Box<dyn Error>> {
    static FONT_REF: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT_REF
        .get_or_init(|| {
            let font = FontRef::try_from_slice(FONT_BYTES).ok()?;
            plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).ok()?;
            Some(font)
        })
        .as_ref()
        .ok_or_else(|| "the embedded font DejaVuSans.ttf cannot be read".into())
}

fn text(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&TEXT)
}

/// A line of text laid out on its baseline: glyphs with their pen positions, the advance
/// width, and the height of the line (ascent + descent); the line's top is at y = 0.
struct TextLine {
    glyphs: Vec<Glyph>,
    width: f32,
    height: f32,
}

fn lay_out(font: &FontRef<'static>, size: f64, text: &str) -> TextLine {
    let font = font.as_scaled(PxScale::from(size as f32));
    let mut glyphs = Vec::new();
    let mut caret = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            caret += font.kern(previous, id);
        }
        glyphs
            .push(id.with_scale_and_position(font.scale(), ab_glyph::point(caret, font.ascent())));
        caret += font.h_advance(id);
        previous = Some(id);
    }
    TextLine {
        glyphs,
        width: caret,
        height: font.ascent() - font.descent(),
    }
}

fn text_width(label: &str, size: u32) -> Result<u32, Box<dyn Error>> {
    Ok(lay_out(font()?, f64::from(size), label).width.ceil() as u32)
}

/// The bitmap backend with text drawn here: plotters 0.3.7's ab_glyph renderer drops each
/// glyph's left side bearing, so letters drift apart or together ("ep och"). Everything
/// else is the bitmap backend's.
struct Canvas<'a> {
    bitmap: BitMapBackend<'a>,
    font: &'static FontRef<'static>,
}

type BitMapBackendError = <BitMapBackend<'static> as DrawingBackend>::ErrorType;
type CanvasResult = Result<(), DrawingErrorKind<BitMapBackendError>>;

impl DrawingBackend for Canvas<'_> {
    type ErrorType = BitMapBackendError;

    fn get_size(&self) -> (u32, u32) {
        self.bitmap.get_size()
    }

    fn ensure_prepared(&mut self) -> CanvasResult {
        self.bitmap.ensure_prepared()
    }

    fn present(&mut self) -> CanvasResult {
        self.bitmap.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> CanvasResult {
        self.bitmap.draw_pixel(point, color)
    }

    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> CanvasResult {
        self.bitmap.draw_line(from, to, style)
    }

    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> CanvasResult {
        self.bitmap.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> CanvasResult {
        self.bitmap.draw_path(path, style)
    }

    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> CanvasResult {
        self.bitmap.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> CanvasResult {
        self.bitmap.fill_polygon(vertices, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> CanvasResult {
        self.bitmap.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<BitMapBackendError>> {
        let line = lay_out(self.font, style.size(), text);
        Ok((line.width.ceil() as u32, line.height.ceil() as u32))
    }

    /// The text's line box is placed by the style's anchor and turned by its transform
    /// about the anchor, as plotters' own `draw_text` does.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> CanvasResult {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let line = lay_out(self.font, style.size(), text);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -line.width / 2.0,
            HPos::Right => -line.width,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -line.height / 2.0,
            VPos::Bottom => -line.height,
        };
        let transform = style.transform();
        let mut pixels = Vec::new();
        for glyph in line.glyphs {
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue;
            };
            // Offsets are rounded once per glyph: rounding each pixel's position would
            // send the rows on either side of the anchor to the same side of zero.
            let bounds = outline.px_bounds();
            let left = (bounds.min.x + dx).round() as i32;
            let top = (bounds.min.y + dy).round() as i32;
            outline.draw(|x, y, coverage| {
                let (x, y) = transform.transform(left + x as i32, top + y as i32);
                pixels.push(((pos.0 + x, pos.1 + y), coverage));
            });
        }
        for (point, coverage) in pixels {
            let alpha = color.alpha * f64::from(coverage.clamp(0.0, 1.0));
            self.bitmap
                .draw_pixel(point, BackendColor { alpha, ..color })?;
        }
        Ok(())
    }
}

/// Legend entry: swatch, gap, label, space before the next entry.
const SWATCH: u32 = 26;
const SWATCH_GAP: u32 = 6;
const ENTRY_GAP: u32 = 22;

/// Left edge of legends.
const LEGEND_LEFT: u32 = 32;

/// The legend's labels, by row, in a strip `width` wide.
fn legend_rows(labels: &[&str], width: u32) -> Result<Vec<Vec<usize>>, Box<dyn Error>> {
    let available = width.saturating_sub(LEGEND_LEFT + MARGIN);
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = 0;
    for (i, label) in labels.iter().enumerate() {
        let w = SWATCH + SWATCH_GAP + text_width(label, LEGEND_TEXT)?;
        match rows.last_mut() {
            Some(row) if used + ENTRY_GAP + w <= available => {
                row.push(i);
                used += ENTRY_GAP + w;
            }
            _ => {
                rows.push(vec![i]);
                used = w;
            }
        }
    }
    Ok(rows)
}

#[derive(Clone, Copy)]
enum Swatch {
    /// A line of this width, with a round marker of this radius (0: none) on it.
    Line(u32, u32),
    Bar,
}

struct Entry<'a> {
    label: &'a str,
    colour: RGBColor,
    swatch: Swatch,
}

fn draw_legend(area: &Area, entries: &[Entry]) -> Drawn {
    let labels: Vec<&str> = entries.iter().map(|e| e.label).collect();
    let (width, _) = area.dim_in_pixel();
    for (row, indices) in legend_rows(&labels, width)?.iter().enumerate() {
        let mid = (4 + row as u32 * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        let mut x = LEGEND_LEFT as i32;
        for &i in indices {
            let entry = &entries[i];
            let s = SWATCH as i32;
            match entry.swatch {
                Swatch::Line(width, radius) => {
                    area.draw(&PathElement::new(
                        vec![(x, mid), (x + s, mid)],
                        entry.colour.stroke_width(width),
                    ))?;
                    if radius > 0 {
                        area.draw(&Circle::new(
                            (x + s / 2, mid),
                            radius,
                            entry.colour.filled(),
                        ))?;
                    }
                }
                Swatch::Bar => area.draw(&Rectangle::new(
                    [(x + 5, mid - 7), (x + s - 5, mid + 7)],
                    entry.colour.filled(),
                ))?,
            }
            let label_x = x + s + SWATCH_GAP as i32;
            area.draw(&Text::new(
                entry.label.to_string(),
                (label_x, mid),
                text(LEGEND_TEXT).pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
            x = label_x + text_width(entry.label, LEGEND_TEXT)? as i32 + ENTRY_GAP as i32;
        }
    }
    Ok(())
}

/// A panel titled `title` that says `message` where its chart would be.
fn draw_empty(area: &Area, title: &str, message: &str) -> Drawn {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let (m, y) = (MARGIN as i32, (MARGIN + 26) as i32);
    area.draw(&Text::new(
        title.to_string(),
        (w / 2, m + 6),
        text(TITLE_TEXT).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    area.draw(&Rectangle::new(
        [(m + Y_LABELS as i32, y), (w - m, h - m)],
        GRID_BOLD.stroke_width(1),
    ))?;
    area.draw(&Text::new(
        message.to_string(),
        ((w + Y_LABELS as i32) / 2, (y + h - m) / 2),
        text(AXIS_TEXT).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Axes

/// A linear axis ticked exactly at `ticks` (plotters' `with_key_points` would lose the
/// formatting of f64 labels).
struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked { range, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.range.start) / (self.range.end - self.range.start);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // The ticks are the bold grid lines; no light lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// A tick step of 1, 2 or 5 × 10^k giving at most `max_ticks` ticks over `range`.
fn nice_step(range: f64, max_ticks: usize) -> f64 {
    let rough = range.max(f64::MIN_POSITIVE) / max_ticks.max(1) as f64;
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power)
}

/// Multiples of `step` within [lo, hi].
fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Decimals that tell ticks `step` apart.
fn decimals(step: f64) -> usize {
    (-step.log10().floor()).clamp(0.0, 6.0) as usize
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

// ---------------------------------------------------------------------------------------
// metrics.png

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

/// Draw into a white `WIDTH` × `height` RGB image.
fn render(height: u32, draw: impl FnOnce(&Area) -> Drawn) -> Result<RgbImage, Box<dyn Error>> {
    let font = font()?;
    let mut buffer = vec![255u8; WIDTH as usize * height as usize * 3];
    {
        let root = Canvas {
            bitmap: BitMapBackend::with_buffer(&mut buffer, (WIDTH, height)),
            font,
        }
        .into_drawing_area();
        draw(&root)?;
        root.present()?;
    }
    Ok(RgbImage::from_raw(WIDTH, height, buffer).expect("the buffer has the image's size"))
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
    let mut chart = ChartBuilder::on(chart_area)
        .caption(title, text(TITLE_TEXT))
        .margin(MARGIN)
        .margin_right(MARGIN + 20)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss")
        .x_labels(12)
        .y_labels(8)
        .max_light_lines(0)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.y_decimals$}"))
        .label_style(text(TICK_TEXT))
        .axis_desc_style(text(AXIS_TEXT))
        .bold_line_style(GRID_BOLD)
        .axis_style(TEXT)
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
    let mut chart = ChartBuilder::on(chart_area)
        .caption(&family.name, text(TITLE_TEXT))
        .margin(MARGIN)
        .margin_right(MARGIN + 8)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(&family.metric)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.y_decimals$}"))
        .label_style(text(TICK_TEXT))
        .axis_desc_style(text(AXIS_TEXT))
        .bold_line_style(GRID_BOLD)
        .axis_style(TEXT)
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

// ---------------------------------------------------------------------------------------
// Comparison

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
    let mut chart = ChartBuilder::on(area)
        .caption(&bars.suite, text(TITLE_TEXT))
        .margin(MARGIN)
        .x_label_area_size(12)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(&bars.metric)
        .y_label_formatter(&|y| format!("{y:.y_decimals$}"))
        .label_style(text(TICK_TEXT))
        .axis_desc_style(text(AXIS_TEXT))
        .bold_line_style(GRID_BOLD)
        .axis_style(TEXT)
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

// ---------------------------------------------------------------------------------------
// Reliability diagram

/// Height of the reliability chart (without its legend).
const RELIABILITY_CHART: u32 = 640;
const DIAGONAL: RGBColor = RGBColor(150, 150, 150);

fn reliability_image(suite: &str, curves: &[Curve]) -> Result<RgbImage, Box<dyn Error>> {
    let labels: Vec<String> = curves
        .iter()
        .map(|c| format!("{} (ECE {:.4})", c.label, c.ece))
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
        let mut chart = ChartBuilder::on(&chart_area)
            .caption(&title, text(TITLE_TEXT))
            .margin(MARGIN)
            .margin_right(MARGIN + 20)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(Y_LABELS)
            .build_cartesian_2d(unit(), unit())?;
        chart
            .configure_mesh()
            .x_desc("confidence (mean of the bin)")
            .y_desc("accuracy")
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .label_style(text(TICK_TEXT))
            .axis_desc_style(text(AXIS_TEXT))
            .bold_line_style(GRID_BOLD)
            .axis_style(TEXT)
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            DIAGONAL.stroke_width(1),
        ))?;
        let mut entries = Vec::new();
        for (i, (curve, label)) in curves.iter().zip(&labels).enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let points: Vec<(f64, f64)> = curve
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn suite(name: &str, metric: &str, value: f64) -> Value {
        json!({"suite": name, "metrics": {metric: value}, "report": null})
    }

    /// Pixels of `colour` inside `rect`.
    fn count(image: &RgbImage, rect: Rect, colour: RGBColor) -> usize {
        let RGBColor(r, g, b) = colour;
        (rect.y..rect.y + rect.h)
            .flat_map(|y| (rect.x..rect.x + rect.w).map(move |x| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0 == [r, g, b])
            .count()
    }

    /// Pixels of `colour` drawn over white with an opacity of at least a half inside `rect`:
    /// lines are anti-aliased, so their pixels are tints of their colour.
    fn tinted(image: &RgbImage, rect: Rect, colour: RGBColor) -> usize {
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
    fn inked(image: &RgbImage, rect: Rect) -> usize {
        (rect.y..rect.y + rect.h)
            .flat_map(|y| (rect.x..rect.x + rect.w).map(move |x| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0 != [255, 255, 255])
            .count()
    }

    fn run_records() -> Vec<Value> {
        let mut records = vec![json!({"kind": "eval", "step": 0, "epoch": null, "suites": [
            suite("Synth-Relation", "macro_accuracy", 0.5),
            suite("Synth-Relation-heldout", "macro_accuracy", 0.48),
            suite("coco-order@seed1", "accuracy", 0.3)]})];
        for step in 1..=40 {
            let loss = 3.0 / (1.0 + step as f64 / 10.0) + 0.2 * ((step * 7 % 5) as f64 - 2.0);
            records.push(json!({"kind": "train", "step": step * 10, "loss": loss}));
        }
        records.push(json!({"kind": "eval", "step": 200, "epoch": 1, "suites": [
            suite("Synth-Relation", "macro_accuracy", 0.7),
            suite("Synth-Relation-heldout", "macro_accuracy", 0.6),
            suite("coco-order@seed1", "accuracy", 0.45)]}));
        records.push(json!({"kind": "eval", "step": 400, "epoch": 2, "suites": [
            suite("Synth-Relation", "macro_accuracy", 0.9),
            suite("Synth-Relation-heldout", "macro_accuracy", 0.65),
            suite("coco-order@seed1", "accuracy", 0.5)]}));
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
    fn centred_text_is_drawn_whole() {
        // At 17 px the line box is 17 px high, so centring puts the anchor half a pixel
        // into a glyph: the row there must still be drawn.
        let mut buffer = vec![255u8; 60 * 60 * 3];
        {
            let root = Canvas {
                bitmap: BitMapBackend::with_buffer(&mut buffer, (60, 60)),
                font: font().unwrap(),
            }
            .into_drawing_area();
            root.draw(&Text::new(
                "l",
                (30, 30),
                text(17).pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .unwrap();
            root.present().unwrap();
        }
        let image = RgbImage::from_raw(60, 60, buffer).unwrap();
        let rows: Vec<u32> = (0..60)
            .filter(|&y| (0..60).any(|x| image.get_pixel(x, y).0 != [255, 255, 255]))
            .collect();
        assert!(rows.len() >= 10, "{rows:?}");
        assert_eq!(
            rows.len() as u32,
            rows[rows.len() - 1] - rows[0] + 1,
            "{rows:?}"
        );
        assert!(rows[0] < 30 && rows[rows.len() - 1] > 30, "{rows:?}");
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

    fn result(name: &str, metric: &str, value: f64) -> SuiteResult {
        serde_json::from_value(suite(name, metric, value)).unwrap()
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
