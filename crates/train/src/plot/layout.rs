//! Where things go and how they look, for every figure: panels in a grid, legend strips and
//! their rows, the "no data" panel, the charts' frame and mesh, and axes ticked at round
//! numbers.

use std::error::Error;
use std::ops::Range;

use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::Canvas;
use super::text::{text, text_width};
use super::{
    Area, Drawn, AXIS_TEXT, GRID_BOLD, LEGEND_TEXT, MARGIN, TEXT, TICK_TEXT, TITLE_TEXT, WIDTH,
    Y_LABELS,
};

const LEGEND_ROW: u32 = 24;

/// A rectangle of the image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// A panel: its chart (axes, ticks, data) and the legend strip under it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Panel {
    pub chart: Rect,
    pub legend: Rect,
}

/// Columns of a grid of `n` panels: up to three, two for four panels.
pub(super) fn grid_columns(n: usize) -> usize {
    match n {
        0 | 1 => 1,
        2 | 4 => 2,
        _ => 3,
    }
}

/// A grid of panels starting at `top`, each `chart` high; `legends` holds the legend height
/// each panel needs, and every panel of a row gets the row's largest.
pub(super) fn grid(top: u32, chart: u32, legends: &[u32]) -> Vec<Panel> {
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

/// The lowest edge of `panels`: the height of the image they fill.
pub(super) fn bottom(panels: &[Panel]) -> u32 {
    panels
        .iter()
        .map(|p| p.legend.y + p.legend.h)
        .max()
        .unwrap_or(0)
}

/// Height of a legend strip of `rows` rows.
pub(super) fn legend_height(rows: usize) -> u32 {
    if rows == 0 {
        0
    } else {
        rows as u32 * LEGEND_ROW + 10
    }
}

/// The part of `root` inside `rect`.
pub(super) fn sub_area<'a>(root: &Area<'a>, rect: Rect) -> Area<'a> {
    root.clone().shrink((rect.x, rect.y), (rect.w, rect.h))
}

/// Legend entry: swatch, gap, label, space before the next entry.
const SWATCH: u32 = 26;
const SWATCH_GAP: u32 = 6;
const ENTRY_GAP: u32 = 22;

/// Left edge of legends.
const LEGEND_LEFT: u32 = 32;

/// The legend's labels, by row, in a strip `width` wide.
pub(super) fn legend_rows(labels: &[&str], width: u32) -> Result<Vec<Vec<usize>>, Box<dyn Error>> {
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
pub(super) enum Swatch {
    /// A line of this width, with a round marker of this radius (0: none) on it.
    Line(u32, u32),
    Bar,
}

pub(super) struct Entry<'a> {
    pub label: &'a str,
    pub colour: RGBColor,
    pub swatch: Swatch,
}

pub(super) fn draw_legend(area: &Area, entries: &[Entry]) -> Drawn {
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
pub(super) fn draw_empty(area: &Area, title: &str, message: &str) -> Drawn {
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

/// A chart titled `title` in `area`, with the plots' margin and room left of it for the y
/// labels; the caller adds the room under it for the x labels.
pub(super) fn chart_builder<'a, 'b, 'c>(
    area: &'a Area<'c>,
    title: &str,
) -> ChartBuilder<'a, 'b, Canvas<'c>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, text(TITLE_TEXT))
        .margin(MARGIN)
        .y_label_area_size(Y_LABELS);
    builder
}

/// The plots' look of a chart's mesh: tick labels, axis names, bold grid lines and axes.
pub(super) fn mesh_look<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.label_style(text(TICK_TEXT))
        .axis_desc_style(text(AXIS_TEXT))
        .bold_line_style(GRID_BOLD)
        .axis_style(TEXT)
}

/// A linear axis ticked exactly at `ticks` (plotters' `with_key_points` would lose the
/// formatting of f64 labels).
pub(super) struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ticked {
    pub fn new(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
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
pub(super) fn nice_step(range: f64, max_ticks: usize) -> f64 {
    let rough = range.max(f64::MIN_POSITIVE) / max_ticks.max(1) as f64;
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power)
}

/// Multiples of `step` within [lo, hi].
pub(super) fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Decimals that tell ticks `step` apart.
pub(super) fn decimals(step: f64) -> usize {
    (-step.log10().floor()).clamp(0.0, 6.0) as usize
}
