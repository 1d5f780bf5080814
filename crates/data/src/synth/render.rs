//! Rasterises a [`Scene`] into an RGB image: flat shapes on a gray background,
//! then seeded uniform noise over every pixel (shapes included) so the model
//! cannot key on exact pixel values.

use image::{Rgb, RgbImage};

use super::scene::{Object, Scene, Shape};
use crate::seed::splitmix64;

/// Renders `scene` at `size × size` pixels with noise of `±noise_amplitude` per channel.
pub fn render(scene: &Scene, size: u32, noise_amplitude: u8) -> RgbImage {
    let mut img = RgbImage::from_pixel(size, size, Rgb([scene.background; 3]));
    for obj in &scene.objects {
        draw(&mut img, obj);
    }
    add_noise(&mut img, scene.noise_seed, noise_amplitude);
    img
}

/// Fills the pixels whose centres fall inside the object's shape.
fn draw(img: &mut RgbImage, obj: &Object) {
    let colour = Rgb(obj.colour.rgb());
    let r = obj.half_extent;
    let (w, h) = img.dimensions();
    let x0 = (obj.x - r).floor().max(0.0) as u32;
    let y0 = (obj.y - r).floor().max(0.0) as u32;
    let x1 = ((obj.x + r).ceil() as u32).min(w);
    let y1 = ((obj.y + r).ceil() as u32).min(h);
    for py in y0..y1 {
        for px in x0..x1 {
            let dx = px as f32 + 0.5 - obj.x;
            let dy = py as f32 + 0.5 - obj.y;
            if inside(obj.shape, dx, dy, r) {
                img.put_pixel(px, py, colour);
            }
        }
    }
}

/// Whether offset `(dx, dy)` from the centre lies inside a shape of half-extent `r`.
/// Proportions keep the shapes' areas within a factor of about 1.6 of each
/// other, so size stays a property of the word "large", not of the shape.
fn inside(shape: Shape, dx: f32, dy: f32, r: f32) -> bool {
    match shape {
        Shape::Circle => dx * dx + dy * dy <= r * r,
        Shape::Square => dx.abs() <= 0.86 * r && dy.abs() <= 0.86 * r,
        Shape::Triangle => {
            // Apex up at -r, base at +0.8r, base half-width r.
            let t = (dy + r) / (1.8 * r);
            (0.0..=1.0).contains(&t) && dx.abs() <= t * r
        }
        Shape::Cross => {
            let arm = 0.36 * r;
            (dx.abs() <= arm && dy.abs() <= r) || (dy.abs() <= arm && dx.abs() <= r)
        }
        Shape::Diamond => dx.abs() + dy.abs() <= r,
        Shape::Ring => {
            let d2 = dx * dx + dy * dy;
            d2 <= r * r && d2 >= 0.3 * r * r
        }
    }
}

/// Adds independent uniform noise in `[-amplitude, amplitude]` to each channel,
/// from a counter-based hash so rendering needs no rng state and stays fast.
fn add_noise(img: &mut RgbImage, seed: u64, amplitude: u8) {
    if amplitude == 0 {
        return;
    }
    let span = 2 * amplitude as u64 + 1;
    for (i, px) in img.pixels_mut().enumerate() {
        let bits = splitmix64(seed ^ (i as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        for (c, channel) in px.0.iter_mut().enumerate() {
            let offset = ((bits >> (16 * c)) & 0xFFFF) % span;
            let value = *channel as i32 + offset as i32 - amplitude as i32;
            *channel = value.clamp(0, 255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::scene::{scene, Split, WorldConfig};

    #[test]
    fn renders_at_requested_size_and_deterministically() {
        for size in [32, 48, 64] {
            let cfg = WorldConfig {
                image_size: size,
                ..WorldConfig::default()
            };
            let s = scene(Split::Train, 7, &cfg, 1);
            let a = render(&s, size, cfg.noise_amplitude);
            assert_eq!(a.dimensions(), (size, size));
            assert_eq!(a, render(&s, size, cfg.noise_amplitude));
        }
    }

    #[test]
    fn object_centres_carry_the_object_colour() {
        let cfg = WorldConfig {
            noise_amplitude: 0,
            ..WorldConfig::default()
        };
        for index in 0..200 {
            let s = scene(Split::Test, index, &cfg, 3);
            let img = render(&s, cfg.image_size, 0);
            for obj in &s.objects {
                // The triangle's centroid sits below its box centre.
                let y = if obj.shape == Shape::Triangle {
                    obj.y + 0.3 * obj.half_extent
                } else {
                    obj.y
                };
                let px = img.get_pixel(obj.x as u32, y as u32);
                assert_eq!(px.0, obj.colour.rgb(), "scene {index}: {obj:?}");
            }
        }
    }

    #[test]
    fn noise_stays_within_amplitude() {
        let cfg = WorldConfig::default();
        let s = scene(Split::Val, 0, &cfg, 0);
        let clean = render(&s, cfg.image_size, 0);
        let noisy = render(&s, cfg.image_size, 10);
        let mut changed = 0;
        for (a, b) in clean.pixels().zip(noisy.pixels()) {
            for c in 0..3 {
                let d = (a.0[c] as i32 - b.0[c] as i32).abs();
                assert!(d <= 10);
                changed += (d > 0) as usize;
            }
        }
        assert!(changed > clean.len() / 2, "noise should touch most values");
    }
}
