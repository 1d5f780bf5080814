//! The two ways a caption's hard captions are drawn from its rewrites ([`Draw`]): by
//! rewrite, as NegCLIP does ([`generate`]), or by kind ([`one_per_kind`]).

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::generate::generate;
use super::kind::NegativeKind;
use super::word::{Negative, PosTagger};

/// How a caption's hard captions are drawn from its rewrites (`negatives.draw`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Draw {
    /// Every rewrite equally likely (NegCLIP). A kind with more rewrites is drawn more
    /// often: `shuffle-order` proposes four where `swap-relation` proposes one.
    #[default]
    ByRewrite,
    /// Every kind that rewrote the caption equally likely, then one of its rewrites; at
    /// most one hard caption per kind.
    ByKind,
}

impl Draw {
    /// Up to `per_caption` hard captions of `caption` by the rewriters in `kinds`, drawn
    /// this way: [`generate`] by rewrite, [`one_per_kind`] by kind.
    pub fn negatives(
        self,
        caption: &str,
        tagger: &dyn PosTagger,
        kinds: &[NegativeKind],
        per_caption: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<Negative> {
        match self {
            Draw::ByRewrite => generate(caption, tagger, kinds, per_caption, rng),
            Draw::ByKind => one_per_kind(caption, tagger, kinds, per_caption, rng),
        }
    }
}

/// Up to `per_caption` rewrites of `caption` of distinct kinds, every kind that rewrote it
/// equally likely ([`Draw::ByKind`]).
pub fn one_per_kind(
    caption: &str,
    tagger: &dyn PosTagger,
    kinds: &[NegativeKind],
    per_caption: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Negative> {
    // `generate` keeps one rewrite of each kind, drawn uniformly among that kind's, before a
    // second of any; the kinds come in an order that favours those with more rewrites, so
    // the draw among them is made here.
    let mut firsts = generate(caption, tagger, kinds, kinds.len(), rng);
    let mut seen = Vec::with_capacity(kinds.len());
    firsts.retain(|n| {
        let new = !seen.contains(&n.kind);
        seen.push(n.kind);
        new
    });
    firsts.shuffle(rng);
    firsts.truncate(per_caption);
    firsts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::word::shipped_tagger;
    use rand::SeedableRng;

    #[test]
    fn by_kind_draws_every_kind_alike_and_by_rewrite_does_not() {
        let caption = "there is a green circle above a purple square";
        let kinds = [
            NegativeKind::SwapAttribute,
            NegativeKind::SwapRelation,
            NegativeKind::ShuffleOrder,
        ];
        let draws = 3000;
        let share_of_relation = |draw: Draw| {
            let relation = (0..draws)
                .flat_map(|i| {
                    let mut rng = ChaCha8Rng::seed_from_u64(i);
                    draw.negatives(caption, shipped_tagger(), &kinds, 1, &mut rng)
                })
                .filter(|n| n.kind == NegativeKind::SwapRelation)
                .count();
            relation as f64 / draws as f64
        };
        let by_kind = share_of_relation(Draw::ByKind);
        let by_rewrite = share_of_relation(Draw::ByRewrite);
        // One rewrite of each kind but four of shuffle-order: 1/3 against about 1/6.
        assert!((by_kind - 1.0 / 3.0).abs() < 0.03, "{by_kind}");
        assert!(by_rewrite < 0.25, "{by_rewrite}");

        let two = one_per_kind(
            caption,
            shipped_tagger(),
            &kinds,
            2,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        assert_eq!(two.len(), 2);
        assert_ne!(two[0].kind, two[1].kind);
    }

    #[test]
    fn draws_are_named_in_kebab_case() {
        let parse = |text: &str| serde_json::from_str::<Draw>(text).ok();
        assert_eq!(parse("\"by-rewrite\""), Some(Draw::ByRewrite));
        assert_eq!(parse("\"by-kind\""), Some(Draw::ByKind));
        assert_eq!(parse("\"ByKind\""), None);
        assert_eq!(Draw::default(), Draw::ByRewrite);
    }
}
