//! The plotters backend the figures draw on: plotters' bitmap backend, with text drawn here.
//!
//! plotters 0.3.7's ab_glyph renderer drops each glyph's left side bearing, so letters drift
//! apart or together ("ep och"); [`Canvas`] sets text itself ([`super::text::lay_out`]) and
//! leaves everything else to the bitmap backend. Of the trait's methods it implements only
//! what it must: the four without a default (size, prepare, present, a pixel), the two the
//! bitmap backend draws its own way (`draw_line` and `draw_rect` have fast paths whose
//! pixels differ from the trait's defaults: a filled rectangle there leaves out its
//! bottom-right edge) and the two about text. Paths, circles and polygons take the trait's
//! defaults, which rasterise through those same methods, exactly as the bitmap backend
//! itself does; bitmaps are never blitted.

use ab_glyph::{Font, FontRef};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use super::text::lay_out;

pub(super) struct Canvas<'a> {
    bitmap: BitMapBackend<'a>,
    font: &'static FontRef<'static>,
}

impl<'a> Canvas<'a> {
    /// A canvas over an RGB `buffer` of `size` pixels, its text set in `font`.
    pub fn new(buffer: &'a mut [u8], size: (u32, u32), font: &'static FontRef<'static>) -> Self {
        Canvas {
            bitmap: BitMapBackend::with_buffer(buffer, size),
            font,
        }
    }
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

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> CanvasResult {
        self.bitmap.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> CanvasResult {
        self.bitmap.draw_rect(upper_left, bottom_right, style, fill)
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

#[cfg(test)]
mod tests {
    use image::RgbImage;
    use plotters::style::text_anchor::Pos;

    use super::*;
    use crate::plot::text::{font, text};

    #[test]
    fn centred_text_is_drawn_whole() {
        // At 17 px the line box is 17 px high, so centring puts the anchor half a pixel
        // into a glyph: the row there must still be drawn.
        let mut buffer = vec![255u8; 60 * 60 * 3];
        {
            let root = Canvas::new(&mut buffer, (60, 60), font().unwrap()).into_drawing_area();
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
}
