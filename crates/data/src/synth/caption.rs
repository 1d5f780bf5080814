//! Captions for scenes, and the exact hard negatives the evaluation suites use.
//!
//! Objects are always "[size] colour shape" (adjectives then a noun) and relations
//! are prepositions ("to the left of", "above"), so the generic tagger-based
//! rewriters the trainer uses find the same structure the suites swap here.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::scene::{Colour, Object, Relation, Scene};

/// Sentence frame around "SUBJECT RELATION OBJECT".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// "a red circle to the left of a blue square"
    Bare,
    /// "a red circle is to the left of a blue square"
    Is,
    /// "the red circle is to the left of the blue square" (the VG-Relation form)
    The,
    /// "there is a red circle to the left of a blue square"
    ThereIs,
    /// "a photo of a red circle to the left of a blue square"
    Photo,
}

impl Frame {
    pub const ALL: [Frame; 5] = [
        Frame::Bare,
        Frame::Is,
        Frame::The,
        Frame::ThereIs,
        Frame::Photo,
    ];
}

/// How one relation caption is worded. The same phrasing applied to a scene and
/// to its swapped version gives a true/false pair differing only in the swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phrasing {
    pub frame: Frame,
    /// State the converse ("B right of A" for "A left of B"); same meaning.
    pub converse: bool,
    /// Use the alternative relation words ("left of", "over", "under").
    pub alternative_words: bool,
    /// Say "small"/"large" before the colour.
    pub with_size: bool,
}

impl Phrasing {
    /// The VG-Relation form: "the red circle is to the left of the blue square".
    pub const CANONICAL: Phrasing = Phrasing {
        frame: Frame::The,
        converse: false,
        alternative_words: false,
        with_size: false,
    };

    pub fn random(rng: &mut ChaCha8Rng) -> Phrasing {
        Phrasing {
            frame: Frame::ALL[rng.random_range(0..Frame::ALL.len())],
            converse: rng.random_bool(0.5),
            alternative_words: rng.random_bool(0.3),
            with_size: rng.random_bool(0.3),
        }
    }
}

/// The words for a relation; both forms are prepositions a tagger marks as such.
pub fn relation_words(rel: Relation, alternative: bool) -> &'static str {
    match (rel, alternative) {
        (Relation::LeftOf, false) => "to the left of",
        (Relation::LeftOf, true) => "left of",
        (Relation::RightOf, false) => "to the right of",
        (Relation::RightOf, true) => "right of",
        (Relation::Above, false) => "above",
        (Relation::Above, true) => "over",
        (Relation::Below, false) => "below",
        (Relation::Below, true) => "under",
    }
}

/// "small red circle" / "red circle".
pub fn noun_phrase(obj: &Object, with_size: bool) -> String {
    described(obj, obj.colour, with_size)
}

fn described(obj: &Object, colour: Colour, with_size: bool) -> String {
    if with_size {
        format!("{} {} {}", obj.size.name(), colour.name(), obj.shape.name())
    } else {
        format!("{} {}", colour.name(), obj.shape.name())
    }
}

fn frame_sentence(frame: Frame, subject: &str, rel: &str, object: &str) -> String {
    match frame {
        Frame::Bare => format!("a {subject} {rel} a {object}"),
        Frame::Is => format!("a {subject} is {rel} a {object}"),
        Frame::The => format!("the {subject} is {rel} the {object}"),
        Frame::ThereIs => format!("there is a {subject} {rel} a {object}"),
        Frame::Photo => format!("a photo of a {subject} {rel} a {object}"),
    }
}

/// Words a relation sentence for `(subject, rel, object)` already described as
/// noun phrases, applying the converse if the phrasing asks for it.
fn relation_sentence_of(p: Phrasing, subject: &str, rel: Relation, object: &str) -> String {
    if p.converse {
        let words = relation_words(rel.converse(), p.alternative_words);
        frame_sentence(p.frame, object, words, subject)
    } else {
        frame_sentence(
            p.frame,
            subject,
            relation_words(rel, p.alternative_words),
            object,
        )
    }
}

/// The true relation caption, or `None` for a scene without a relation.
pub fn relation_caption(scene: &Scene, p: Phrasing) -> Option<String> {
    let (a, rel, b) = scene.relation?;
    let (a, b) = (&scene.objects[a], &scene.objects[b]);
    Some(relation_sentence_of(
        p,
        &noun_phrase(a, p.with_size),
        rel,
        &noun_phrase(b, p.with_size),
    ))
}

/// The relation caption with its two arguments exchanged: "the blue square is to
/// the left of the red circle" for a red circle left of a blue square. False by
/// construction, since relations are strict and objects are uniquely named.
pub fn relation_swap(scene: &Scene, p: Phrasing) -> Option<String> {
    let (a, rel, b) = scene.relation?;
    let (a, b) = (&scene.objects[a], &scene.objects[b]);
    Some(relation_sentence_of(
        p,
        &noun_phrase(b, p.with_size),
        rel,
        &noun_phrase(a, p.with_size),
    ))
}

/// The relation caption with the two objects' colours exchanged: "the blue circle
/// is to the left of the red square". False because every object in a scene has
/// its own colour and its own shape, so no "blue circle" exists.
pub fn attribute_swap(scene: &Scene, p: Phrasing) -> Option<String> {
    let (a, rel, b) = scene.relation?;
    let (a, b) = (&scene.objects[a], &scene.objects[b]);
    Some(relation_sentence_of(
        p,
        &described(a, b.colour, p.with_size),
        rel,
        &described(b, a.colour, p.with_size),
    ))
}

/// "the red circle and the blue square" for the related pair, as VG-Attribution
/// words its items, with the false version exchanging the colours.
pub fn attribution_pair(scene: &Scene) -> Option<(String, String)> {
    let (a, _, b) = scene.relation?;
    let (a, b) = (&scene.objects[a], &scene.objects[b]);
    let truth = format!(
        "the {} and the {}",
        noun_phrase(a, false),
        noun_phrase(b, false)
    );
    let false_ = format!(
        "the {} and the {}",
        described(a, b.colour, false),
        described(b, a.colour, false)
    );
    Some((truth, false_))
}

/// What a training caption says about its scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionForm {
    /// A relation sentence: "a red circle to the left of a blue square".
    Relation,
    /// Only which objects there are: "a photo of a red circle and a blue square".
    List,
}

/// Draws the form of a training caption: a relation sentence for four in five scenes
/// that have a relation, else a list.
pub fn caption_form(scene: &Scene, rng: &mut ChaCha8Rng) -> CaptionForm {
    if scene.relation.is_some() && rng.random_bool(0.8) {
        CaptionForm::Relation
    } else {
        CaptionForm::List
    }
}

/// A caption of the given form in a random phrasing. [`CaptionForm::Relation`] needs a
/// scene with a relation.
pub fn caption_in_form(scene: &Scene, form: CaptionForm, rng: &mut ChaCha8Rng) -> String {
    match form {
        CaptionForm::Relation => {
            relation_caption(scene, Phrasing::random(rng)).expect("scene has a relation")
        }
        CaptionForm::List => list_caption(scene, rng),
    }
}

/// A training caption: usually a relation sentence in a random phrasing, sometimes
/// a plain list of the objects ("a photo of a red circle and a blue square").
pub fn caption(scene: &Scene, rng: &mut ChaCha8Rng) -> String {
    let form = caption_form(scene, rng);
    caption_in_form(scene, form, rng)
}

/// "there is a small red circle", "a red circle and a blue square", ...
fn list_caption(scene: &Scene, rng: &mut ChaCha8Rng) -> String {
    let with_size = rng.random_bool(0.4);
    let mut phrases: Vec<String> = scene
        .objects
        .iter()
        .map(|o| format!("a {}", noun_phrase(o, with_size)))
        .collect();
    phrases.shuffle(rng);
    let listed = phrases.join(" and ");
    match rng.random_range(0..3) {
        0 => listed,
        1 => format!("there is {listed}"),
        _ => format!("a photo of {listed}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::scene::{Shape, Size};
    use rand::SeedableRng;

    fn obj(colour: Colour, shape: Shape, x: f32, y: f32) -> Object {
        Object {
            shape,
            colour,
            size: Size::Small,
            x,
            y,
            half_extent: 3.0,
        }
    }

    fn red_circle_left_of_blue_square() -> Scene {
        Scene {
            objects: vec![
                obj(Colour::Red, Shape::Circle, 6.0, 16.0),
                obj(Colour::Blue, Shape::Square, 26.0, 16.0),
            ],
            relation: Some((0, Relation::LeftOf, 1)),
            background: 80,
            noise_seed: 0,
        }
    }

    #[test]
    fn canonical_caption_and_negatives_read_as_expected() {
        let s = red_circle_left_of_blue_square();
        let p = Phrasing::CANONICAL;
        assert_eq!(
            relation_caption(&s, p).unwrap(),
            "the red circle is to the left of the blue square"
        );
        assert_eq!(
            relation_swap(&s, p).unwrap(),
            "the blue square is to the left of the red circle"
        );
        assert_eq!(
            attribute_swap(&s, p).unwrap(),
            "the blue circle is to the left of the red square"
        );
        assert_eq!(
            attribution_pair(&s).unwrap(),
            (
                "the red circle and the blue square".to_string(),
                "the blue circle and the red square".to_string()
            )
        );
    }

    #[test]
    fn converse_phrasing_keeps_the_meaning_and_swap_stays_false() {
        let s = red_circle_left_of_blue_square();
        let p = Phrasing {
            frame: Frame::Bare,
            converse: true,
            alternative_words: true,
            with_size: true,
        };
        assert_eq!(
            relation_caption(&s, p).unwrap(),
            "a small blue square right of a small red circle"
        );
        assert_eq!(
            relation_swap(&s, p).unwrap(),
            "a small red circle right of a small blue square"
        );
    }

    #[test]
    fn single_object_scenes_get_list_captions_and_no_negatives() {
        let mut s = red_circle_left_of_blue_square();
        s.objects.truncate(1);
        s.relation = None;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..20 {
            let c = caption(&s, &mut rng);
            assert!(c.ends_with("red circle"), "{c}");
        }
        assert!(relation_swap(&s, Phrasing::CANONICAL).is_none());
        assert!(attribute_swap(&s, Phrasing::CANONICAL).is_none());
    }
}
