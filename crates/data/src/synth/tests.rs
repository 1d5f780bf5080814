//! Properties of the generator the trainer and the suites rely on.

use std::collections::HashSet;

use super::caption::{self, Phrasing};
use super::scene::{disjoint, relation_holds};
use super::*;

#[test]
fn scenes_and_samples_are_pure_functions_of_seed_split_index() {
    let cfg = WorldConfig::default();
    for index in [0, 1, 17, 123_456_789] {
        let a = sample(Split::Train, index, &cfg, 42);
        let b = sample(Split::Train, index, &cfg, 42);
        assert_eq!(a.scene, b.scene);
        assert_eq!(a.caption, b.caption);
        assert_eq!(a.image, b.image);
    }
    // A different seed gives a different stream.
    let differ = (0..20)
        .filter(|&i| scene(Split::Train, i, &cfg, 1) != scene(Split::Train, i, &cfg, 2))
        .count();
    assert_eq!(differ, 20);
}

#[test]
fn splits_are_disjoint_streams() {
    let cfg = WorldConfig::default();
    let render_of = |split, i| render::render(&scene(split, i, &cfg, 0), cfg.image_size, 0);
    let train: HashSet<Vec<u8>> = (0..3000)
        .map(|i| render_of(Split::Train, i).into_raw())
        .collect();
    for split in [Split::Val, Split::Test, Split::Heldout] {
        for i in 0..500 {
            let img = render_of(split, i).into_raw();
            assert!(
                !train.contains(&img),
                "{split:?} scene {i} repeats a train image"
            );
        }
    }
}

#[test]
fn held_out_pairs_appear_only_in_the_heldout_split() {
    let cfg = WorldConfig::default();
    let held: HashSet<Pair> = cfg.held_out_pairs.iter().copied().collect();
    for split in [Split::Train, Split::Val, Split::Test] {
        let count = if split == Split::Train { 10_000 } else { 1_000 };
        for i in 0..count {
            for obj in &scene(split, i, &cfg, 7).objects {
                assert!(!held.contains(&obj.pair()), "{split:?} {i}: {}", obj.pair());
            }
        }
    }
    // Every held-out scene has a held-out pair among the objects a relation names.
    let mut seen = HashSet::new();
    for i in 0..1_000 {
        let s = scene(Split::Heldout, i, &cfg, 7);
        let named = &s.objects[..s.objects.len().min(2)];
        let hit: Vec<Pair> = named
            .iter()
            .map(|o| o.pair())
            .filter(|p| held.contains(p))
            .collect();
        assert_eq!(hit.len(), 1, "heldout {i}: {s:?}");
        seen.insert(hit[0]);
    }
    assert_eq!(seen, held, "every held-out pair is used");
}

#[test]
fn stated_relations_hold_and_objects_never_overlap() {
    for image_size in [32, 48, 64] {
        let cfg = WorldConfig {
            image_size,
            ..WorldConfig::default()
        };
        let side = image_size as f32;
        for split in Split::ALL {
            for i in 0..2_000 {
                let s = scene(split, i, &cfg, 3);
                for (k, a) in s.objects.iter().enumerate() {
                    assert!(a.x - a.half_extent >= 0.0 && a.x + a.half_extent <= side);
                    assert!(a.y - a.half_extent >= 0.0 && a.y + a.half_extent <= side);
                    for b in &s.objects[k + 1..] {
                        assert!(disjoint(a, b), "{split:?} {i}: overlap {s:?}");
                        assert!(a.colour != b.colour && a.shape != b.shape, "{s:?}");
                    }
                }
                match s.relation {
                    Some((a, rel, b)) => {
                        let (a, b) = (&s.objects[a], &s.objects[b]);
                        assert!(relation_holds(a, rel, b), "{split:?} {i}: {s:?}");
                        // The swapped statement is geometrically false.
                        assert!(!relation_holds(b, rel, a));
                    }
                    None => assert_eq!(s.objects.len(), 1),
                }
            }
        }
    }
}

#[test]
fn object_counts_and_relations_follow_the_config() {
    let cfg = WorldConfig::default();
    let mut counts = [0usize; 4];
    let mut relations = HashSet::new();
    for i in 0..2_000 {
        let s = scene(Split::Train, i, &cfg, 0);
        counts[s.objects.len()] += 1;
        if let Some((_, rel, _)) = s.relation {
            relations.insert(rel);
        }
    }
    assert_eq!(counts[0], 0);
    // 10 % one object, 15 % three, the rest two (a few three-object scenes drop one).
    assert!((150..250).contains(&counts[1]), "{counts:?}");
    assert!((200..340).contains(&counts[3]), "{counts:?}");
    assert_eq!(relations.len(), 4);
}

#[test]
fn negatives_differ_from_true_captions_for_every_phrasing() {
    let cfg = WorldConfig::default();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    for i in 0..500 {
        let s = scene(Split::Test, i, &cfg, 0);
        if s.relation.is_none() {
            continue;
        }
        let p = Phrasing::random(&mut rng);
        let truth = caption::relation_caption(&s, p).unwrap();
        let rel_neg = caption::relation_swap(&s, p).unwrap();
        let att_neg = caption::attribute_swap(&s, p).unwrap();
        assert_ne!(truth, rel_neg);
        assert_ne!(truth, att_neg);
        assert_ne!(rel_neg, att_neg);
    }
}

#[test]
fn training_captions_name_the_scene_objects() {
    let cfg = WorldConfig::default();
    let mut frames = HashSet::new();
    for i in 0..300 {
        let s = sample(Split::Train, i, &cfg, 11);
        let related = match s.scene.relation {
            Some((a, _, b)) => vec![a, b],
            None => vec![0],
        };
        for k in related {
            let np = caption::noun_phrase(&s.scene.objects[k], false);
            assert!(s.caption.contains(&np), "{:?} lacks {np}", s.caption);
        }
        frames.insert(s.caption.split(' ').take(2).collect::<Vec<_>>().join(" "));
    }
    assert!(
        frames.len() >= 8,
        "captions should vary in form: {frames:?}"
    );
}

#[test]
fn config_parses_with_defaults_and_rejects_bad_values() {
    let cfg: WorldConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(cfg, WorldConfig::default());
    cfg.validate().unwrap();

    let cfg: WorldConfig =
        serde_json::from_str(r#"{"image_size": 64, "held_out_pairs": ["white cross"]}"#).unwrap();
    assert_eq!(cfg.image_size, 64);
    assert_eq!(cfg.held_out_pairs.len(), 1);

    let err =
        serde_json::from_str::<WorldConfig>(r#"{"held_out_pairs": ["pink circle"]}"#).unwrap_err();
    assert!(err.to_string().contains("pink circle"), "{err}");
    assert!(serde_json::from_str::<WorldConfig>(r#"{"imagesize": 3}"#).is_err());

    let tiny = WorldConfig {
        image_size: 8,
        ..WorldConfig::default()
    };
    assert!(tiny.validate().is_err());
    let crowded = WorldConfig {
        large_fraction: 0.4,
        ..WorldConfig::default()
    };
    assert!(crowded.validate().is_err());
}

/// The trainer finds hard captions with the generic tagger-based rewriters; on the
/// world's relation captions they must give exactly the suites' false captions, in
/// every phrasing, or NegCLIP would train on noise.
#[test]
fn generic_rewriters_give_the_worlds_exact_swaps() {
    use crate::negatives::{generate, shipped_tagger, NegativeKind};
    let cfg = WorldConfig::default();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
    let mut checked = 0;
    for i in 0..400 {
        let s = scene(Split::Train, i, &cfg, 0);
        if s.relation.is_none() {
            continue;
        }
        let p = Phrasing::random(&mut rng);
        let truth = caption::relation_caption(&s, p).unwrap();
        let mut rewritten = |kind| {
            generate(&truth, shipped_tagger(), &[kind], 1, &mut rng)
                .pop()
                .map(|n| n.text)
        };
        let relation = rewritten(NegativeKind::SwapRelation);
        assert_eq!(relation, caption::relation_swap(&s, p), "{truth}");
        // With sizes the rewriter swaps "large green" for "small blue" as a whole,
        // which is false as well; the suites swap colours only.
        let attribute = rewritten(NegativeKind::SwapAttribute);
        if !p.with_size {
            assert_eq!(attribute, caption::attribute_swap(&s, p), "{truth}");
        }
        checked += 1;
    }
    assert!(checked > 200);
}
