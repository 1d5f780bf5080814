//! Evaluation suites over the synthetic world, built as the shared
//! [`crate::suite`] types so the trainer scores them like ARO.
//!
//! | suite | split | options | decision | average |
//! |---|---|---|---|---|
//! | `Synth-Relation` | test | [arguments swapped, true] | strictly highest | macro over relation |
//! | `Synth-Attribution` | test | [colours swapped, true] | strictly highest | macro over colour pair |
//! | `Synth-Order` | test | [caption, 4 perturbations] | first argmax | micro |
//! | `…-heldout` | heldout | as above | | |
//! | `Synth-Winoground` | test | 2 scenes × 2 captions: a relation and its arguments swapped | Winoground's text, image, group | per relation |
//! | `Synth-Retrieval` | test | one caption per image | | |
//! | `Synth-Classify` | test + heldout | 24 colour–shape classes, 3 templates | zero-shot | top-1, seen / unseen, ECE |
//! | `Synth-OOD` | test vs val | the same classes; OOD: novel shapes | MSP / MCM | AUROC, FPR95 |
//!
//! The classification suites show one object per image: `n` seen compositions from the test
//! split and (`Synth-Classify`) `n` held-out ones from the held-out split. `Synth-OOD`'s
//! out-of-distribution images are `n` one-object scenes of the val split with the shape
//! replaced by one the world never draws (diamond, ring), colour, size, place and background
//! unchanged.

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use super::caption::{self, Phrasing};
use super::partners::swapped_scene_pairs;
use super::render::render;
use super::scene::{rng_for, scene, Colour, Pair, Scene, Shape, Split, WorldConfig};
use super::SynthError;
use crate::suite::{
    Averaging, ChoiceItem, ChoiceSuite, ClassificationSuite, Compositions, Decision, GroupItem,
    GroupSuite, ImageSource, RetrievalSuite, Suite, Tag,
};

/// A caption-order perturbation: given a caption, the perturbed captions
/// (ARO uses four: shuffled nouns/adjectives, all but nouns/adjectives,
/// trigrams, words within trigrams).
pub type OrderFn<'a> = &'a dyn Fn(&str, &mut ChaCha8Rng) -> Vec<String>;

// Rng streams per scene index: 0 = scene, 1 = caption (shared with training), then these.
const PHRASING_STREAM: u64 = 2;
const ORDER_STREAM: u64 = 3;

/// The prompt ensemble of the classification suites: frames the training captions use.
const TEMPLATES: [&str; 3] = ["a {}", "a photo of a {}", "there is a {}"];

const NAMES: [&str; 10] = [
    "Synth-Relation",
    "Synth-Attribution",
    "Synth-Order",
    "Synth-Relation-heldout",
    "Synth-Attribution-heldout",
    "Synth-Order-heldout",
    "Synth-Winoground",
    "Synth-Retrieval",
    "Synth-Classify",
    "Synth-OOD",
];

/// Names accepted by [`build_suite`].
pub fn suite_names() -> &'static [&'static str] {
    &NAMES
}

/// Builds suite `name` with `n_items` items (images for retrieval) from scenes
/// 0, 1, 2, … of the suite's split, skipping scenes a suite cannot use (a
/// one-object scene has no relation). Deterministic in `(name, n_items, cfg, seed)`.
/// `order_fn` is only called by the order suites.
pub fn build_suite(
    name: &str,
    n_items: usize,
    cfg: &WorldConfig,
    seed: u64,
    order_fn: OrderFn,
) -> Result<Suite, SynthError> {
    cfg.validate()?;
    let (base, split) = match name.strip_suffix("-heldout") {
        Some(base) => (base, Split::Heldout),
        None => (name, Split::Test),
    };
    let build = Builder {
        cfg,
        seed,
        split,
        name,
    };
    match (base, split) {
        ("Synth-Relation", _) => Ok(Suite::Choice(build.relation(n_items))),
        ("Synth-Attribution", _) => Ok(Suite::Choice(build.attribution(n_items))),
        ("Synth-Order", _) => Ok(Suite::Choice(build.order(n_items, order_fn)?)),
        ("Synth-Winoground", Split::Test) => Ok(Suite::Group(build.winoground(n_items))),
        ("Synth-Retrieval", Split::Test) => Ok(Suite::Retrieval(build.retrieval(n_items))),
        ("Synth-Classify", Split::Test) => Ok(Suite::Classification(build.classify(n_items))),
        ("Synth-OOD", Split::Test) => Ok(Suite::Classification(build.ood(n_items))),
        _ => Err(SynthError::UnknownSuite {
            name: name.to_string(),
            known: NAMES.join(", "),
        }),
    }
}

struct Builder<'a> {
    cfg: &'a WorldConfig,
    seed: u64,
    split: Split,
    name: &'a str,
}

impl Builder<'_> {
    /// The first `n` scenes with a relation, with their indices.
    fn related_scenes(&self, n: usize) -> impl Iterator<Item = (u64, Scene)> + '_ {
        (0u64..)
            .map(|i| (i, scene(self.split, i, self.cfg, self.seed)))
            .filter(|(_, s)| s.relation.is_some())
            .take(n)
    }

    fn image(&self, s: &Scene) -> ImageSource {
        ImageSource::Memory(Arc::new(render(
            s,
            self.cfg.image_size,
            self.cfg.noise_amplitude,
        )))
    }

    fn choice(&self, images: Vec<ImageSource>, items: Vec<ChoiceItem>, d: Decision) -> ChoiceSuite {
        let averaging = match d {
            Decision::StrictlyHighest => Averaging::Macro {
                excluded: vec![],
                min_items: 1,
            },
            Decision::FirstArgmax => Averaging::Micro,
        };
        ChoiceSuite {
            name: self.name.to_string(),
            images,
            items,
            decision: d,
            averaging,
        }
    }

    fn phrasing(&self, index: u64) -> Phrasing {
        Phrasing::random(&mut rng_for(self.seed, self.split, index, PHRASING_STREAM))
    }

    /// [false = arguments swapped, true], grouped by the relation as worded.
    fn relation(&self, n: usize) -> ChoiceSuite {
        let (mut images, mut items) = (Vec::new(), Vec::new());
        for (index, s) in self.related_scenes(n) {
            let p = self.phrasing(index);
            let (_, rel, _) = s.relation.expect("filtered on relation");
            let stated = if p.converse { rel.converse() } else { rel };
            items.push(ChoiceItem {
                image: images.len(),
                options: vec![
                    caption::relation_swap(&s, p).expect("has relation"),
                    caption::relation_caption(&s, p).expect("has relation"),
                ],
                true_index: 1,
                group: stated.name().to_string(),
            });
            images.push(self.image(&s));
        }
        self.choice(images, items, Decision::StrictlyHighest)
    }

    /// [false = colours swapped, true], grouped "<first colour>_<second colour>"
    /// in the order the true caption mentions the objects.
    fn attribution(&self, n: usize) -> ChoiceSuite {
        let (mut images, mut items) = (Vec::new(), Vec::new());
        for (index, s) in self.related_scenes(n) {
            let p = self.phrasing(index);
            let (a, _, b) = s.relation.expect("filtered on relation");
            let (first, second) = if p.converse { (b, a) } else { (a, b) };
            let group = format!(
                "{}_{}",
                s.objects[first].colour.name(),
                s.objects[second].colour.name()
            );
            items.push(ChoiceItem {
                image: images.len(),
                options: vec![
                    caption::attribute_swap(&s, p).expect("has relation"),
                    caption::relation_caption(&s, p).expect("has relation"),
                ],
                true_index: 1,
                group,
            });
            images.push(self.image(&s));
        }
        self.choice(images, items, Decision::StrictlyHighest)
    }

    /// [training-style caption, its perturbations]; every scene is usable.
    fn order(&self, n: usize, order_fn: OrderFn) -> Result<ChoiceSuite, SynthError> {
        let (mut images, mut items) = (Vec::new(), Vec::new());
        for index in 0..n as u64 {
            let s = scene(self.split, index, self.cfg, self.seed);
            let original = training_caption(&s, self.seed, self.split, index);
            let mut rng = rng_for(self.seed, self.split, index, ORDER_STREAM);
            let perturbed = order_fn(&original, &mut rng);
            if perturbed.is_empty() {
                return Err(SynthError::EmptyPerturbation(original));
            }
            let mut options = vec![original];
            options.extend(perturbed);
            items.push(ChoiceItem {
                image: images.len(),
                options,
                true_index: 0,
                group: "all".to_string(),
            });
            images.push(self.image(&s));
        }
        Ok(self.choice(images, items, Decision::FirstArgmax))
    }

    /// Winoground's shape from the world: two scenes whose relations are the same fact with
    /// the arguments exchanged ([`swapped_scene_pairs`]), caption 0 stating the first scene's
    /// relation and caption 1 the same words with the arguments swapped, which is what the
    /// second scene shows. Sizes are never said (the two scenes' sizes differ), so each
    /// caption is true of exactly one of the two scenes. Tagged by the relation as worded.
    fn winoground(&self, n: usize) -> GroupSuite {
        let (mut images, mut items) = (Vec::new(), Vec::new());
        for (first, second) in swapped_scene_pairs(self.split, n, self.cfg, self.seed) {
            let s = scene(self.split, first, self.cfg, self.seed);
            let p = Phrasing {
                with_size: false,
                ..self.phrasing(first)
            };
            let (_, rel, _) = s.relation.expect("paired on a relation");
            let stated = if p.converse { rel.converse() } else { rel };
            items.push(GroupItem {
                id: format!("{first}+{second}"),
                images: vec![images.len(), images.len() + 1],
                captions: vec![
                    caption::relation_caption(&s, p).expect("has relation"),
                    caption::relation_swap(&s, p).expect("has relation"),
                ],
                truth: vec![vec![0], vec![1]],
                tags: vec![Tag {
                    axis: "relation".into(),
                    value: stated.name().to_string(),
                }],
            });
            images.push(self.image(&s));
            images.push(self.image(&scene(self.split, second, self.cfg, self.seed)));
        }
        GroupSuite {
            name: self.name.to_string(),
            images,
            items,
        }
    }

    /// One training-style caption per image.
    fn retrieval(&self, n: usize) -> RetrievalSuite {
        let mut suite = RetrievalSuite {
            name: self.name.to_string(),
            images: Vec::with_capacity(n),
            captions: Vec::with_capacity(n),
            caption_image: Vec::with_capacity(n),
        };
        for index in 0..n as u64 {
            let s = scene(self.split, index, self.cfg, self.seed);
            suite.caption_image.push(suite.images.len());
            suite
                .captions
                .push(training_caption(&s, self.seed, self.split, index));
            suite.images.push(self.image(&s));
        }
        suite
    }
}

impl Builder<'_> {
    /// The first `n` one-object scenes of `split`: the world's generator with every scene
    /// drawn with one object, so their pairs follow the split's rules (held-out pairs only in
    /// the held-out split).
    fn single_objects(&self, split: Split, n: usize) -> Vec<Scene> {
        let single = WorldConfig {
            p_one_object: 1.0,
            p_three_objects: 0.0,
            ..self.cfg.clone()
        };
        (0..n as u64)
            .map(|i| scene(split, i, &single, self.seed))
            .collect()
    }

    /// Every colour–shape pair of the world, in colour then shape order, and its name.
    fn classes(&self) -> (Vec<Pair>, Vec<String>) {
        let pairs: Vec<Pair> = Colour::ALL
            .into_iter()
            .flat_map(|colour| {
                Shape::ALL
                    .into_iter()
                    .map(move |shape| Pair { colour, shape })
            })
            .collect();
        let names = pairs.iter().map(|p| p.to_string()).collect();
        (pairs, names)
    }

    fn classification(&self, scenes: &[Scene], ood: Vec<ImageSource>) -> ClassificationSuite {
        let (pairs, classes) = self.classes();
        let seen = pairs.iter().map(|&p| !self.cfg.is_held_out(p)).collect();
        ClassificationSuite {
            name: self.name.to_string(),
            images: scenes.iter().map(|s| self.image(s)).collect(),
            labels: scenes
                .iter()
                .map(|s| {
                    let pair = s.objects[0].pair();
                    pairs.iter().position(|&p| p == pair).expect("a world pair")
                })
                .collect(),
            compositions: Some(
                Compositions::from_names(&classes, Some(seen)).expect("pairs are two words"),
            ),
            classes,
            templates: TEMPLATES.iter().map(|t| t.to_string()).collect(),
            ood,
            calibration_seed: self.seed,
        }
    }

    /// `n` seen and `n` held-out compositions.
    fn classify(&self, n: usize) -> ClassificationSuite {
        let mut scenes = self.single_objects(Split::Test, n);
        scenes.extend(self.single_objects(Split::Heldout, n));
        self.classification(&scenes, Vec::new())
    }

    /// `n` seen compositions against `n` objects of shapes the world never draws.
    fn ood(&self, n: usize) -> ClassificationSuite {
        let ood = self
            .single_objects(Split::Val, n)
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                s.objects[0].shape = Shape::NOVEL[i % Shape::NOVEL.len()];
                self.image(&s)
            })
            .collect();
        self.classification(&self.single_objects(Split::Test, n), ood)
    }
}

/// The caption [`super::sample`] pairs with this scene.
fn training_caption(s: &Scene, seed: u64, split: Split, index: u64) -> String {
    caption::caption(s, &mut rng_for(seed, split, index, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;

    fn reverse_and_shuffle(text: &str, rng: &mut ChaCha8Rng) -> Vec<String> {
        let words: Vec<&str> = text.split(' ').collect();
        let mut shuffled = words.clone();
        shuffled.shuffle(rng);
        let reversed: Vec<&str> = words.iter().rev().copied().collect();
        vec![shuffled.join(" "), reversed.join(" ")]
    }

    fn choice(name: &str, n: usize) -> ChoiceSuite {
        match build_suite(name, n, &WorldConfig::default(), 5, &reverse_and_shuffle).unwrap() {
            Suite::Choice(c) => c,
            _ => panic!("{name} should be a choice suite"),
        }
    }

    #[test]
    fn synth_winoground_pairs_two_scenes_with_captions_of_the_same_words_swapped() {
        let suite = match build_suite(
            "Synth-Winoground",
            20,
            &WorldConfig::default(),
            5,
            &reverse_and_shuffle,
        )
        .unwrap()
        {
            Suite::Group(g) => g,
            _ => panic!("a group suite"),
        };
        assert_eq!((suite.items.len(), suite.images.len()), (20, 40));
        for item in &suite.items {
            let words = |c: &str| {
                let mut w: Vec<&str> = c.split(' ').collect();
                w.sort_unstable();
                w.join(" ")
            };
            let [c0, c1] = [&item.captions[0], &item.captions[1]];
            assert_ne!(c0, c1);
            assert_eq!(words(c0), words(c1), "{c0} / {c1}");
            assert!(!c0.contains("small") && !c0.contains("large"), "{c0}");
            assert_eq!(item.truth, vec![vec![0], vec![1]]);
            assert!(item.check(suite.images.len()).is_ok());
            assert_eq!(item.tags[0].axis, "relation");
        }
    }

    #[test]
    fn every_listed_name_builds_with_the_requested_size() {
        for name in suite_names() {
            let suite = build_suite(name, 12, &WorldConfig::default(), 1, &reverse_and_shuffle)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            match suite {
                Suite::Choice(c) => {
                    assert_eq!(c.name, *name);
                    assert_eq!(c.items.len(), 12);
                    assert_eq!(c.images.len(), 12);
                }
                Suite::Retrieval(r) => {
                    assert_eq!(r.images.len(), 12);
                    assert_eq!(r.captions.len(), 12);
                }
                Suite::Classification(c) => {
                    assert_eq!(c.name, *name);
                    assert!(c.images.len() >= 12 && c.labels.len() == c.images.len());
                }
                Suite::Group(g) => {
                    assert_eq!(g.name, *name);
                    assert_eq!(g.items.len(), 12);
                }
            }
        }
        assert!(build_suite(
            "Synth-Nope",
            1,
            &WorldConfig::default(),
            1,
            &reverse_and_shuffle
        )
        .is_err());
    }

    #[test]
    fn binary_suites_put_a_distinct_false_caption_first() {
        for name in ["Synth-Relation", "Synth-Attribution-heldout"] {
            let suite = choice(name, 200);
            assert_eq!(suite.decision, Decision::StrictlyHighest);
            for item in &suite.items {
                assert_eq!(item.true_index, 1);
                assert_eq!(item.options.len(), 2);
                assert_ne!(item.options[0], item.options[1]);
                // Same words, different order: a bag-of-words model cannot separate them.
                let mut a: Vec<&str> = item.options[0].split(' ').collect();
                let mut b: Vec<&str> = item.options[1].split(' ').collect();
                a.sort();
                b.sort();
                assert_eq!(a, b, "{:?}", item.options);
            }
        }
    }

    #[test]
    fn relation_groups_cover_all_four_relations() {
        let suite = choice("Synth-Relation", 200);
        let mut groups: Vec<&str> = suite.items.iter().map(|i| i.group.as_str()).collect();
        groups.sort();
        groups.dedup();
        assert_eq!(groups, ["above", "below", "left of", "right of"]);
    }

    #[test]
    fn order_suite_puts_the_original_first() {
        let suite = choice("Synth-Order", 30);
        assert_eq!(suite.decision, Decision::FirstArgmax);
        assert_eq!(suite.averaging, Averaging::Micro);
        for item in &suite.items {
            assert_eq!(item.true_index, 0);
            assert_eq!(item.options.len(), 3);
            let reversed: Vec<&str> = item.options[0].split(' ').rev().collect();
            assert_eq!(item.options[2], reversed.join(" "));
        }
    }

    #[test]
    fn suites_are_deterministic() {
        let a = choice("Synth-Attribution", 20);
        let b = choice("Synth-Attribution", 20);
        let options = |s: &ChoiceSuite| {
            s.items
                .iter()
                .map(|i| i.options.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(options(&a), options(&b));
    }

    fn classification(name: &str, n: usize) -> ClassificationSuite {
        match build_suite(name, n, &WorldConfig::default(), 5, &reverse_and_shuffle).unwrap() {
            Suite::Classification(c) => c,
            _ => panic!("{name} should be a classification suite"),
        }
    }

    #[test]
    fn classify_shows_seen_then_held_out_compositions_one_object_each() {
        let suite = classification("Synth-Classify", 20);
        assert_eq!(suite.classes.len(), 24);
        assert_eq!(suite.images.len(), 40);
        let seen = suite.compositions.as_ref().unwrap().seen.clone().unwrap();
        assert_eq!(
            seen.iter().filter(|s| !**s).count(),
            4,
            "four held-out pairs"
        );
        assert!(suite.labels[..20].iter().all(|&l| seen[l]));
        assert!(suite.labels[20..].iter().all(|&l| !seen[l]));
        assert_eq!(suite.classes[suite.labels[0]].split(' ').count(), 2);
        assert!(suite.ood.is_empty());
    }

    #[test]
    fn ood_images_differ_from_in_distribution_by_a_novel_shape() {
        let suite = classification("Synth-OOD", 10);
        assert_eq!((suite.images.len(), suite.ood.len()), (10, 10));
        let seen = suite.compositions.as_ref().unwrap().seen.clone().unwrap();
        assert!(suite.labels.iter().all(|&l| seen[l]));
        let again = classification("Synth-OOD", 10);
        let pixels = |s: &ImageSource| match s {
            ImageSource::Memory(image) => image.as_raw().clone(),
            ImageSource::File { .. } => unreachable!("in memory"),
        };
        assert_eq!(
            pixels(&suite.ood[3]),
            pixels(&again.ood[3]),
            "deterministic"
        );
    }
}
