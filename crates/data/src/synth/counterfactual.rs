//! Counterfactual twins: hard-negative images the world can draw exactly.
//!
//! NegCLIP pairs every image with a hard-negative image (on COCO: a nearest
//! neighbour by embedding). A tiny CLIP pretrained as a bag of words finds, as
//! nearest neighbours, scenes with the same objects in any arrangement, so only
//! some of them disagree with the caption where it matters. The synthetic world
//! can do better: it draws the scene in which one fact its caption states is false.
//!
//! - A caption that states a relation ("a red circle to the left of a blue
//!   square") gets a scene drawn afresh with the same objects and the relation's
//!   arguments exchanged: a blue square to the left of a red circle, each object
//!   keeping its size, on a new background. Its caption states its own relation.
//! - A caption that lists objects gets the picture with one object recoloured, and
//!   a list caption of its own: a twin with the same objects elsewhere would make
//!   the two list captions true of both pictures.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::caption::{caption_form, caption_in_form, CaptionForm};
use super::scene::{place_apart, place_pair, rng_for, Colour, Pair, Scene, Split, WorldConfig};
use super::{render, SynthSample};

/// The rng stream of twins (0 = scene, 1 = caption, 2–3 = suites).
const TWIN_STREAM: u64 = 4;

/// A new scene in which the relation's arguments are exchanged: the same two objects
/// (each with its size) placed afresh so that the object now stands where the subject
/// stood relative to it, any third object placed clear of them, and a new background.
/// A scene drawn afresh, not the same picture edited, so that nothing but who is
/// where ties it to the original.
fn exchanged(scene: &Scene, cfg: &WorldConfig, rng: &mut ChaCha8Rng) -> Option<Scene> {
    let (a, rel, b) = scene.relation?;
    let side = cfg.image_size as f32;
    let (mut subject, mut object) = (scene.objects[b], scene.objects[a]);
    place_pair(&mut subject, rel, &mut object, side, rng);
    let mut objects = vec![subject, object];
    for (k, extra) in scene.objects.iter().enumerate() {
        let mut extra = *extra;
        if k != a && k != b && place_apart(&mut extra, &objects, cfg, rng) {
            objects.push(extra);
        }
    }
    Some(Scene {
        objects,
        relation: Some((0, rel, 1)),
        background: rng.random_range(55..=105),
        noise_seed: rng.random(),
    })
}

/// The scene with one object in a colour no other object has, never making a
/// held-out pair. Six colours and at most three objects leave three free colours, so
/// only a held-out list naming all three for the chosen shape leaves none.
fn recoloured(scene: &Scene, cfg: &WorldConfig, rng: &mut ChaCha8Rng) -> Scene {
    let mut twin = scene.clone();
    let which = rng.random_range(0..twin.objects.len());
    let shape = twin.objects[which].shape;
    let options: Vec<Colour> = Colour::ALL
        .into_iter()
        .filter(|&colour| scene.objects.iter().all(|o| o.colour != colour))
        .filter(|&colour| !cfg.is_held_out(Pair { colour, shape }))
        .collect();
    assert!(
        !options.is_empty(),
        "held_out_pairs name every free colour of a {}: no counterfactual twin",
        shape.name()
    );
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
        CaptionForm::Relation => {
            exchanged(&original, cfg, &mut rng).expect("relation captions need one")
        }
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
    use crate::synth::scene::{disjoint, relation_holds, Object};

    #[test]
    fn a_relation_twin_is_what_the_swapped_caption_says() {
        let cfg = WorldConfig::default();
        let mut checked = 0;
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
            for (i, x) in t.objects.iter().enumerate() {
                for y in &t.objects[i + 1..] {
                    assert!(disjoint(x, y));
                }
            }
            // The original's false caption is the twin's true one, and vice versa.
            let p = Phrasing::CANONICAL;
            assert_eq!(relation_swap(s, p), relation_caption(t, p));
            assert_eq!(relation_caption(s, p), relation_swap(t, p));
            // Every object keeps its colour, shape and size.
            let key = |o: &Object| (o.colour.name(), o.shape.name(), o.size.name());
            let (sa, sb) = (s.relation.unwrap().0, s.relation.unwrap().2);
            assert_eq!(key(&t.objects[a]), key(&s.objects[sb]));
            assert_eq!(key(&t.objects[b]), key(&s.objects[sa]));
            assert!(!twin.caption.contains(" and "), "{}", twin.caption);
            checked += 1;
        }
        assert!(checked > 150);
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
