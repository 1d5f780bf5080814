//! Text: the embedded font, the text styles plotters lays out with, and lines of glyphs set
//! with ab_glyph, which [`super::canvas::Canvas`] draws and the legends measure.

use std::error::Error;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont};
use plotters::prelude::*;

use super::TEXT;

/// DejaVu Sans (Bitstream Vera licence, see NOTICE), registered with plotters under [`FONT`].
const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FONT: &str = "sans-serif";

/// The embedded font, for plotters (which measures text with it) and for the canvas (which
/// draws it).
pub(super) fn font() -> Result<&'static FontRef<'static>, Box<dyn Error>> {
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

/// Text of `size` pixels in the plots' font and colour.
pub(super) fn text(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&TEXT)
}

/// A line of text laid out on its baseline: glyphs with their pen positions, the advance
/// width, and the height of the line (ascent + descent); the line's top is at y = 0.
pub(super) struct TextLine {
    pub glyphs: Vec<Glyph>,
    pub width: f32,
    pub height: f32,
}

pub(super) fn lay_out(font: &FontRef<'static>, size: f64, text: &str) -> TextLine {
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

/// Width in pixels of `label` at `size`.
pub(super) fn text_width(label: &str, size: u32) -> Result<u32, Box<dyn Error>> {
    Ok(lay_out(font()?, f64::from(size), label).width.ceil() as u32)
}
