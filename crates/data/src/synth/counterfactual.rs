//! Counterfactual twins: hard-negative images the world can draw exactly.
//!
//! NegCLIP pairs every image with a hard-negative image (on COCO: a nearest
//! neighbour by embedding). A tiny CLIP pretrained as a bag of words finds, as
//! nearest neighbours, scenes with the same objects in any arrangement, so only
//! some of them disagree with the caption where it matters. The synthetic world
//! can do better: it draws the scene in which one fact its caption states is false.
//!
//! - A caption that states a relation ("a red circle to the left of a blue
//!   square") gets the same picture with the two related objects in each other's
//!   places: a blue square to the left of a red circle. Sizes, any third object, the
//!   background and its noise stay, so the twin differs only in who is where, and
//!   its caption states its own relation.
//! - A caption that lists objects gets the picture with one object recoloured, and
//!   a list caption of its own: a twin with the same objects elsewhere would make
//!   the two list captions true of both pictures.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::caption::{caption_form, caption_in_form, CaptionForm};
use super::scene::{
    disjoint, relation_holds, rng_for, Colour, Object, Pair, Scene, Split, WorldConfig,
};
use super::{render, SynthSample};

/// The rng stream of twins (0 = scene, 1 = caption, 2–3 = suites).
const TWIN_STREAM: u64 = 4;

/// The scene with its two related objects in each other's places. Each keeps its size;
/// a larger object moving into a smaller one's place is pushed back inside the
/// canvas. When that breaks the relation or touches another object, the objects stay
/// and exchange colours and shapes instead (sizes then stay where they were).
pub fn exchanged(scene: &Scene, cfg: &WorldConfig) -> Option<Scene> {
    let (a, rel, b) = scene.relation?;
    let side = cfg.image_size as f32;
    let mut twin = scene.clone();
    let inside = |v: f32, r: f32| v.clamp(r + 1.0, side - r - 1.0);
    let (first, second) = (scene.objects[a], scene.objects[b]);
    let moved = |o: &mut Object, to: &Object| {
        (o.x, o.y) = (inside(to.x, o.half_extent), inside(to.y, o.half_extent));
    };
    moved(&mut twin.objects[a], &second);
    moved(&mut twin.objects[b], &first);
    let others_clear = (0..twin.objects.len())
        .filter(|&k| k != a && k != b)
        .all(|k| {
            [a, b]
                .iter()
                .all(|&m| disjoint(&twin.objects[k], &twin.objects[m]))
        });
    if relation_holds(&twin.objects[b], rel, &twin.objects[a]) && others_clear {
        // The relation now reads "b rel a": state it that way round.
        twin.relation = Some((b, rel, a));
        return Some(twin);
    }
    let mut twin = scene.clone();
    (twin.objects[a].colour, twin.objects[a].shape) = (second.colour, second.shape);
    (twin.objects[b].colour, twin.objects[b].shape) = (first.colour, first.shape);
    Some(twin)
}

/// The scene with one object in a colour no other object has, never making a
/// held-out pair (six colours, at most three objects: one always remains).
pub fn recoloured(scene: &Scene, cfg: &WorldConfig, rng: &mut ChaCha8Rng) -> Scene {
    let mut twin = scene.clone();
    let which = rng.random_range(0..twin.objects.len());
    let shape = twin.objects[which].shape;
    let options: Vec<Colour> = Colour::ALL
        .into_iter()
        .filter(|&colour| scene.objects.iter().all(|o| o.colour != colour))
        .filter(|&colour| !cfg.is_held_out(Pair { colour, shape }))
        .collect();
    twin.objects[which].colour = options[rng.random_range(0..options.len())];
    twin
}

/// The twin of training example `index` of `split` (see the module docs), rendered
/// and captioned. A pure function of its arguments, like [`super::sample`].
pub fn twin_sample(split: Split, index: u64, cfg: &WorldConfig, seed: u64) -> SynthSample {
    let original = super::scene(split, index, cfg, seed);
    // The form the original's caption took (the same draw `sample` makes).
    let form = caption_form(&original, &mut rng_for(seed, split, index, 1));
    let mut rng = rng_for(seed, split, index, TWIN_STREAM);
    let scene = match form {
        CaptionForm::Relation => exchanged(&original, cfg).expect("relation captions need one"),
        CaptionForm::List => recoloured(&original, cfg, &mut rng),
    };
    let image = render::render(&scene, cfg.image_size, cfg.noise_amplitude);
    let caption = caption_in_form(&scene, form, &mut rng);
    SynthSample {
        image,
        caption,
        scene,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::caption::{relation_caption, relation_swap, Phrasing};
    use crate::synth::sample;
    use crate::synth::scene::relation_holds;

    #[test]
    fn a_relation_twin_is_what_the_swapped_caption_says() {
        let cfg = WorldConfig::default();
        let (mut checked, mut moved) = (0, 0);
        for i in 0..300 {
            let original = sample(Split::Train, i, &cfg, 0);
            let twin = twin_sample(Split::Train, i, &cfg, 0);
            let form = caption_form(&original.scene, &mut rng_for(0, Split::Train, i, 1));
            if form != CaptionForm::Relation {
                continue;
            }
            let (s, t) = (&original.scene, &twin.scene);
            let (a, rel, b) = t.relation.unwrap();
            assert!(relation_holds(&t.objects[a], rel, &t.objects[b]));
            // The original's false caption is the twin's true one, and vice versa.
            let p = Phrasing::CANONICAL;
            assert_eq!(relation_swap(s, p), relation_caption(t, p));
            assert_eq!(relation_caption(s, p), relation_swap(t, p));
            // Every object keeps its identity; the scene's set of objects is the same.
            let key = |o: &Object| (o.colour.name(), o.shape.name(), o.size.name());
            let mut before: Vec<_> = s.objects.iter().map(key).collect();
            let mut after: Vec<_> = t.objects.iter().map(key).collect();
            before.sort();
            after.sort();
            if before == after {
                moved += 1;
            }
            assert_eq!(s.background, t.background);
            assert!(!twin.caption.contains(" and "), "{}", twin.caption);
            checked += 1;
        }
        assert!(checked > 150);
        // Most twins move the objects themselves; the rest exchange colours and shapes.
        assert!(moved * 10 >= checked * 7, "{moved}/{checked} moved");
    }

    #[test]
    fn a_list_twin_recolours_one_object_into_a_new_colour() {
        let cfg = WorldConfig::default();
        let mut checked = 0;
        for i in 0..300 {
            let original = sample(Split::Train, i, &cfg, 0);
            let form = caption_form(&original.scene, &mut rng_for(0, Split::Train, i, 1));
            if form != CaptionForm::List {
                continue;
            }
            let twin = twin_sample(Split::Train, i, &cfg, 0);
            let changed: Vec<_> = original
                .scene
                .objects
                .iter()
                .zip(&twin.scene.objects)
                .filter(|(o, t)| o != t)
                .collect();
            assert_eq!(changed.len(), 1);
            let (o, t) = changed[0];
            assert_eq!((o.shape, o.x, o.y), (t.shape, t.x, t.y));
            assert!(original.scene.objects.iter().all(|x| x.colour != t.colour));
            assert!(!cfg.is_held_out(t.pair()));
            assert_ne!(original.caption, twin.caption);
            checked += 1;
        }
        assert!(checked > 30);
    }

    #[test]
    fn twins_differ_from_their_originals_and_are_deterministic() {
        let cfg = WorldConfig::default();
        for i in 0..50 {
            let original = sample(Split::Train, i, &cfg, 7);
            let twin = twin_sample(Split::Train, i, &cfg, 7);
            assert_ne!(original.image, twin.image);
            assert_eq!(twin.image, twin_sample(Split::Train, i, &cfg, 7).image);
            assert_eq!(twin.caption, twin_sample(Split::Train, i, &cfg, 7).caption);
        }
    }
}
