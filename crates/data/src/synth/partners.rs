//! Partner scenes: hard-negative images found among the training scenes themselves.
//!
//! NegCLIP's hard image for a caption is a training image close to it (on COCO, a
//! nearest neighbour by embedding). The world knows what each scene shows, so for a
//! scene whose caption states "a red circle to the left of a blue square" it can find
//! the training scenes that show the blue square to the left of the red circle: the
//! same two objects with the arguments exchanged. Their captions are then hard
//! negatives of the anchor and vice versa, and every partner is itself an anchor with
//! its own partners, as nearest neighbours are on real data.
//!
//! Partners are the *first* `k` such scenes of the stream, so a few scenes serve as the
//! hard image of many anchors stating the same fact. Measured (docs/results.md): this
//! teaches Synth-Relation where a fresh counterfactual twin per scene hardly does.

use std::collections::HashMap;

use super::caption::{caption_form, CaptionForm};
use super::scene::{rng_for, scene, Pair, Relation, Scene, Split, WorldConfig};

/// What a relation caption states, with "right of" and "below" read as their
/// converses, so "B right of A" and "A left of B" are the same fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fact {
    pub subject: Pair,
    pub relation: Relation,
    pub object: Pair,
}

impl Fact {
    /// The fact a scene's relation states, if it has one.
    pub fn of(scene: &Scene) -> Option<Fact> {
        let (a, rel, b) = scene.relation?;
        let (a, b) = (scene.objects[a].pair(), scene.objects[b].pair());
        Some(match rel {
            Relation::LeftOf | Relation::Above => Fact {
                subject: a,
                relation: rel,
                object: b,
            },
            Relation::RightOf | Relation::Below => Fact {
                subject: b,
                relation: rel.converse(),
                object: a,
            },
        })
    }

    /// The same relation with the arguments exchanged: false wherever `self` holds.
    pub fn swapped(self) -> Fact {
        Fact {
            subject: self.object,
            relation: self.relation,
            object: self.subject,
        }
    }
}

/// The fact training example `index`'s caption states: `None` for list captions.
pub fn stated_fact(split: Split, index: u64, cfg: &WorldConfig, seed: u64) -> Option<Fact> {
    let s = scene(split, index, cfg, seed);
    // The same draw `sample` makes for the caption's form.
    match caption_form(&s, &mut rng_for(seed, split, index, 1)) {
        CaptionForm::Relation => Fact::of(&s),
        CaptionForm::List => None,
    }
}

/// The first `n` training examples whose caption states a relation: the stream of
/// a run that leaves out list captions.
pub fn relation_caption_indices(split: Split, n: usize, cfg: &WorldConfig, seed: u64) -> Vec<u64> {
    (0u64..)
        .filter(|&i| stated_fact(split, i, cfg, seed).is_some())
        .take(n)
        .collect()
}

/// For each training example of `indices`, the positions in `indices` of the first `k`
/// examples whose captions state its caption's fact with the arguments exchanged.
/// Empty for list captions and for facts whose swap no example states.
pub fn partner_lists(
    split: Split,
    indices: &[u64],
    k: usize,
    cfg: &WorldConfig,
    seed: u64,
) -> Vec<Vec<usize>> {
    let facts: Vec<Option<Fact>> = indices
        .iter()
        .map(|&i| stated_fact(split, i, cfg, seed))
        .collect();
    let mut first: HashMap<Fact, Vec<usize>> = HashMap::new();
    for (i, fact) in facts.iter().enumerate() {
        if let Some(fact) = fact {
            let stating = first.entry(*fact).or_default();
            if stating.len() < k {
                stating.push(i);
            }
        }
    }
    facts
        .iter()
        .map(|fact| match fact {
            Some(fact) => first.get(&fact.swapped()).cloned().unwrap_or_default(),
            None => Vec::new(),
        })
        .collect()
}

/// How many scenes [`swapped_scene_pairs`] looks through per pair asked for before it stops:
/// in the default world about one scene in eight completes a pair.
const SCENES_PER_PAIR: u64 = 200;

/// Up to `n` disjoint pairs `(i, j)`, `i < j`, of `split`'s scenes whose relations are the
/// same fact with the arguments exchanged: scene `i` shows "a red circle left of a blue
/// square", scene `j` the blue square left of the red circle (Synth-Winoground's pairs).
/// Scenes are taken in stream order, each scene in one pair at most, the first scene still
/// waiting for its swap paired first; at most `SCENES_PER_PAIR * n` scenes are read.
pub fn swapped_scene_pairs(
    split: Split,
    n: usize,
    cfg: &WorldConfig,
    seed: u64,
) -> Vec<(u64, u64)> {
    let mut waiting: HashMap<Fact, Vec<u64>> = HashMap::new();
    let mut pairs = Vec::with_capacity(n);
    for index in 0..SCENES_PER_PAIR * n as u64 {
        if pairs.len() == n {
            break;
        }
        let Some(fact) = Fact::of(&scene(split, index, cfg, seed)) else {
            continue;
        };
        match waiting.get_mut(&fact.swapped()).filter(|w| !w.is_empty()) {
            Some(partners) => pairs.push((partners.remove(0), index)),
            None => waiting.entry(fact).or_default().push(index),
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::sample;
    use crate::synth::scene::relation_holds;

    /// Whether the scene shows `fact` (whatever its caption says).
    fn shows(scene: &Scene, fact: Fact) -> bool {
        let find = |pair: Pair| scene.objects.iter().find(|o| o.pair() == pair);
        match (find(fact.subject), find(fact.object)) {
            (Some(s), Some(o)) => relation_holds(s, fact.relation, o),
            _ => false,
        }
    }

    #[test]
    fn partners_show_the_anchors_relation_with_the_arguments_exchanged() {
        let cfg = WorldConfig::default();
        let indices: Vec<u64> = (0..2000).collect();
        let lists = partner_lists(Split::Train, &indices, 3, &cfg, 0);
        let mut with_partners = 0;
        for (i, partners) in lists.iter().enumerate() {
            let anchor = sample(Split::Train, i as u64, &cfg, 0);
            let Some(fact) = stated_fact(Split::Train, i as u64, &cfg, 0) else {
                assert!(partners.is_empty(), "list caption {:?}", anchor.caption);
                continue;
            };
            assert!(shows(&anchor.scene, fact), "{}", anchor.caption);
            assert!(partners.len() <= 3 && !partners.contains(&i));
            for &p in partners {
                let partner = sample(Split::Train, p as u64, &cfg, 0);
                assert!(shows(&partner.scene, fact.swapped()), "{}", partner.caption);
            }
            with_partners += !partners.is_empty() as usize;
        }
        // Most relation captions find a partner among 2000 scenes.
        assert!(with_partners > 1000, "{with_partners}");
    }

    #[test]
    fn a_relation_only_stream_skips_list_captions_and_keeps_its_order() {
        let cfg = WorldConfig::default();
        let indices = relation_caption_indices(Split::Train, 300, &cfg, 0);
        assert_eq!(indices.len(), 300);
        assert!(indices.windows(2).all(|w| w[0] < w[1]));
        for i in 0..=indices[299] {
            let caption = sample(Split::Train, i, &cfg, 0).caption;
            let words = ["left of", "right of", "above", "below", "over", "under"];
            let states_relation = words.iter().any(|w| caption.contains(w));
            assert_eq!(indices.contains(&i), states_relation, "{caption}");
        }
        // Partners are positions in the list, so they index the filtered stream.
        let lists = partner_lists(Split::Train, &indices, 2, &cfg, 0);
        for (pos, partners) in lists.iter().enumerate() {
            let fact = stated_fact(Split::Train, indices[pos], &cfg, 0).unwrap();
            for &p in partners {
                let partner = stated_fact(Split::Train, indices[p], &cfg, 0).unwrap();
                assert_eq!(partner, fact.swapped());
            }
        }
    }

    #[test]
    fn converse_wordings_state_the_same_fact() {
        let cfg = WorldConfig::default();
        for i in 0..200 {
            let s = scene(Split::Train, i, &cfg, 0);
            let Some(fact) = Fact::of(&s) else { continue };
            assert!(matches!(fact.relation, Relation::LeftOf | Relation::Above));
            assert_eq!(fact.swapped().swapped(), fact);
            assert_ne!(fact.swapped(), fact);
        }
    }

    #[test]
    fn swapped_scene_pairs_show_each_others_fact_swapped() {
        let cfg = WorldConfig::default();
        let pairs = swapped_scene_pairs(Split::Test, 30, &cfg, 7);
        assert_eq!(pairs.len(), 30);
        let mut used = std::collections::HashSet::new();
        for &(i, j) in &pairs {
            assert!(i < j);
            assert!(used.insert(i) && used.insert(j), "each scene in one pair");
            let (a, b) = (
                scene(Split::Test, i, &cfg, 7),
                scene(Split::Test, j, &cfg, 7),
            );
            let fact = Fact::of(&a).unwrap();
            assert_eq!(Fact::of(&b), Some(fact.swapped()));
            assert!(shows(&a, fact) && !shows(&a, fact.swapped()));
            assert!(shows(&b, fact.swapped()) && !shows(&b, fact));
        }
    }
}
