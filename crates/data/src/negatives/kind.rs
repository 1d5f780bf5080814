//! The names of the rewrites, as written in tables and on the command line.

use std::fmt;
use std::str::FromStr;

/// Which rewrite produced a negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NegativeKind {
    /// Exchange the adjectives of two noun phrases.
    SwapAttribute,
    /// Exchange the subject and object of a relation.
    SwapRelation,
    /// NegCLIP: exchange two noun phrases of more than two words.
    SwapNounPhrase,
    /// NegCLIP: exchange two verb phrases.
    SwapVerbPhrase,
    /// NegCLIP: exchange two singular nouns (Penn `NN`).
    SwapNoun,
    /// NegCLIP: exchange two plural nouns (Penn `NNS`).
    SwapPluralNoun,
    /// NegCLIP: exchange two adverbs.
    SwapAdverb,
    /// NegCLIP: exchange two adjectives.
    SwapAdjective,
    /// One of ARO's four word-order perturbations.
    ShuffleOrder,
    /// A negative read from an external table (NegCLIP TSV) that does not
    /// record how it was made. No rewriter produces it.
    External,
}

impl NegativeKind {
    /// Every kind a rewriter can produce, in a stable order.
    pub const REWRITES: [NegativeKind; 9] = [
        NegativeKind::SwapAttribute,
        NegativeKind::SwapRelation,
        NegativeKind::SwapNounPhrase,
        NegativeKind::SwapVerbPhrase,
        NegativeKind::SwapNoun,
        NegativeKind::SwapPluralNoun,
        NegativeKind::SwapAdverb,
        NegativeKind::SwapAdjective,
        NegativeKind::ShuffleOrder,
    ];

    /// The six swaps of the NegCLIP authors' negative script.
    pub const NEGCLIP: [NegativeKind; 6] = [
        NegativeKind::SwapNounPhrase,
        NegativeKind::SwapVerbPhrase,
        NegativeKind::SwapNoun,
        NegativeKind::SwapPluralNoun,
        NegativeKind::SwapAdverb,
        NegativeKind::SwapAdjective,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NegativeKind::SwapAttribute => "swap-attribute",
            NegativeKind::SwapRelation => "swap-relation",
            NegativeKind::SwapNounPhrase => "swap-noun-phrase",
            NegativeKind::SwapVerbPhrase => "swap-verb-phrase",
            NegativeKind::SwapNoun => "swap-noun",
            NegativeKind::SwapPluralNoun => "swap-plural-noun",
            NegativeKind::SwapAdverb => "swap-adverb",
            NegativeKind::SwapAdjective => "swap-adjective",
            NegativeKind::ShuffleOrder => "shuffle-order",
            NegativeKind::External => "external",
        }
    }

    /// Parses a comma-separated list such as `swap-noun,swap-relation`.
    /// `all` stands for [`Self::REWRITES`] and `negclip` for [`Self::NEGCLIP`].
    pub fn parse_list(list: &str) -> Result<Vec<NegativeKind>, ParseKindError> {
        let mut kinds = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let group: Vec<NegativeKind> = match name {
                "all" => Self::REWRITES.to_vec(),
                "negclip" => Self::NEGCLIP.to_vec(),
                other => vec![other.parse()?],
            };
            for kind in group {
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        }
        Ok(kinds)
    }
}

impl fmt::Display for NegativeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that is not one of [`NegativeKind::as_str`]'s names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown negative kind `{0}` (known: swap-attribute, swap-relation, swap-noun-phrase, swap-verb-phrase, swap-noun, swap-plural-noun, swap-adverb, swap-adjective, shuffle-order, external)")]
pub struct ParseKindError(pub String);

impl FromStr for NegativeKind {
    type Err = ParseKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NegativeKind::REWRITES
            .into_iter()
            .chain([NegativeKind::External])
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseKindError(s.to_string()))
    }
}

impl serde::Serialize for NegativeKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for NegativeKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in NegativeKind::REWRITES
            .into_iter()
            .chain([NegativeKind::External])
        {
            assert_eq!(kind.as_str().parse::<NegativeKind>(), Ok(kind));
        }
        assert!("swap_noun".parse::<NegativeKind>().is_err());
    }

    #[test]
    fn list_expands_groups_and_dedupes() {
        let kinds = NegativeKind::parse_list("swap-noun, negclip").unwrap();
        assert_eq!(kinds.len(), 6);
        assert_eq!(kinds[0], NegativeKind::SwapNoun);
        assert_eq!(NegativeKind::parse_list("all").unwrap().len(), 9);
        assert!(NegativeKind::parse_list("swap-noun,bogus").is_err());
    }

    #[test]
    fn serde_uses_the_names() {
        let json = serde_json::to_string(&NegativeKind::SwapPluralNoun).unwrap();
        assert_eq!(json, "\"swap-plural-noun\"");
        let back: NegativeKind = serde_json::from_str(&json).unwrap();
        assert_eq!(back, NegativeKind::SwapPluralNoun);
    }
}
