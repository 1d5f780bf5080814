//! Shallow chunks of a tagged caption: noun phrases and the relations between
//! them.
//!
//! A noun phrase is `DET? (ADJ | NUM | compound NOUN)* NOUN+`; a relation is
//! `NP predicate NP` where the predicate is made only of verbs, auxiliaries,
//! adverbs, particles and prepositions ("is eating", "on", "sitting on") or a
//! multi-word preposition ("to the left of", "on top of", "in front of").

use std::ops::Range;

use super::tags::{tags_of, Tags};
use super::word::Word;

/// A noun phrase: its tokens, where its adjectives are, and its head nouns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NounPhrase {
    /// All tokens, determiner included.
    pub span: Range<usize>,
    /// The first contiguous run of adjectives (empty range when none).
    pub adjectives: Range<usize>,
    /// The final run of nouns.
    pub head: Range<usize>,
}

/// `subject predicate object`, indices into the noun-phrase list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub subject: usize,
    pub predicate: Range<usize>,
    pub object: usize,
}

/// Noun phrases and relations of one caption.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunks {
    pub noun_phrases: Vec<NounPhrase>,
    pub relations: Vec<Relation>,
}

/// Multi-word prepositions, lower-case, grouped by their first word (each
/// first word once): most words start none, and a word that starts some is
/// compared with those only. Their nouns ("left", "top") must not start noun
/// phrases of their own.
const COMPLEX_PREPOSITIONS: &[(&str, &[&[&str]])] = &[
    ("to", &[&["the", "left", "of"], &["the", "right", "of"]]),
    (
        "on",
        &[
            &["the", "left", "of"],
            &["the", "right", "of"],
            &["top", "of"],
            &["the", "top", "of"],
            &["the", "side", "of"],
            &["the", "edge", "of"],
            &["the", "back", "of"],
            &["the", "front", "of"],
        ],
    ),
    (
        "at",
        &[
            &["the", "top", "of"],
            &["the", "bottom", "of"],
            &["the", "edge", "of"],
        ],
    ),
    (
        "in",
        &[
            &["front", "of"],
            &["the", "front", "of"],
            &["back", "of"],
            &["the", "back", "of"],
            &["the", "middle", "of"],
        ],
    ),
    ("left", &[&["of"]]),
    ("right", &[&["of"]]),
    ("next", &[&["to"]]),
    ("close", &[&["to"]]),
    ("because", &[&["of"]]),
    ("out", &[&["of"]]),
    ("inside", &[&["of"]]),
    ("ahead", &[&["of"]]),
];

fn is_noun(tags: Tags) -> bool {
    tags.any(Tags::NOUN.or(Tags::PROPN))
}

fn is_determiner(tags: Tags) -> bool {
    tags.any(Tags::DET.or(Tags::PRP_POSSESSIVE))
}

fn is_adjective(tags: Tags) -> bool {
    tags.any(Tags::ADJ)
}

/// A participle directly after a determiner acts as an adjective: "a parked
/// car", "the flowered umbrella".
fn is_participle(tags: Tags) -> bool {
    tags.any(Tags::VERB) && tags.any(Tags::VBN.or(Tags::VBG))
}

/// Sets `mask` to mark the tokens that belong to a multi-word preposition.
fn complex_preposition_mask(words: &[Word], mask: &mut Vec<bool>) {
    mask.clear();
    mask.resize(words.len(), false);
    let mut i = 0;
    while i < words.len() {
        match complex_preposition_at(&words[i..]) {
            Some(len) => {
                mask[i..i + len].iter_mut().for_each(|m| *m = true);
                i += len;
            }
            None => i += 1,
        }
    }
}

/// The length of the longest multi-word preposition `words` start with.
fn complex_preposition_at(words: &[Word]) -> Option<usize> {
    // The prepositions are ASCII without a `k` (which the Kelvin sign lower-cases
    // to), so an ASCII case-insensitive match is a match of the lower-cased word.
    let (first, rest) = words.split_first()?;
    let (_, rests) = COMPLEX_PREPOSITIONS
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(first.word))?;
    let matches = |p: &[&str]| {
        rest.len() >= p.len()
            && p.iter()
                .zip(rest)
                .all(|(p, w)| p.eq_ignore_ascii_case(w.word))
    };
    rests
        .iter()
        .filter(|p| matches(p))
        .map(|p| 1 + p.len())
        .max()
}

/// Finds the noun phrases, left to right, never overlapping.
pub fn noun_phrases(words: &[Word]) -> Vec<NounPhrase> {
    let mut blocked = Vec::new();
    complex_preposition_mask(words, &mut blocked);
    let mut phrases = Vec::new();
    noun_phrases_outside(&tags_of(words), &blocked, &mut phrases);
    phrases
}

/// Appends the [`noun_phrases`] of words with `tags` to `phrases`, given the
/// [`complex_preposition_mask`].
fn noun_phrases_outside(tags: &[Tags], blocked: &[bool], phrases: &mut Vec<NounPhrase>) {
    let mut i = 0;
    while i < tags.len() {
        match noun_phrase_at(tags, blocked, i) {
            Some(np) => {
                i = np.span.end;
                phrases.push(np);
            }
            None => i += 1,
        }
    }
}

fn noun_phrase_at(tags: &[Tags], blocked: &[bool], start: usize) -> Option<NounPhrase> {
    let usable = |k: usize| k < tags.len() && !blocked[k];
    let mut k = start;
    if usable(k) && is_determiner(tags[k]) {
        k += 1;
    }
    let after_determiner = k > start;
    let body_start = k;
    while usable(k) {
        let w = tags[k];
        let participle = after_determiner && k == body_start && is_participle(w);
        if w.any(Tags::ADJ.or(Tags::NUM)) || is_noun(w) || participle {
            k += 1;
        } else {
            break;
        }
    }
    if adjective_head_before_preposition(tags, blocked, body_start, k, after_determiner) {
        let adjectives = first_adjective_run(tags, body_start..k - 1, after_determiner);
        return Some(NounPhrase {
            span: start..k,
            adjectives,
            head: k - 1..k,
        });
    }
    // Trim trailing modifiers: the phrase must end on a noun.
    while k > body_start && !is_noun(tags[k - 1]) {
        k -= 1;
    }
    if k == body_start {
        return None;
    }
    let mut head_start = k;
    while head_start > body_start && is_noun(tags[head_start - 1]) {
        head_start -= 1;
    }
    let adjectives = first_adjective_run(tags, body_start..head_start, after_determiner);
    Some(NounPhrase {
        span: start..k,
        adjectives,
        head: head_start..k,
    })
}

/// "a small blue square right of ...": the tagger reads "square right" as
/// adjective + noun, so once "right of" is known to be a preposition the phrase
/// before it ends on an adjective. A determiner-led run of two or more
/// adjectives directly before a multi-word preposition is a noun phrase whose
/// last word is the head.
fn adjective_head_before_preposition(
    tags: &[Tags],
    blocked: &[bool],
    body_start: usize,
    end: usize,
    after_determiner: bool,
) -> bool {
    after_determiner
        && end < tags.len()
        && blocked[end]
        && end >= body_start + 2
        && tags[body_start..end].iter().all(|&t| is_adjective(t))
}

fn first_adjective_run(tags: &[Tags], range: Range<usize>, after_determiner: bool) -> Range<usize> {
    let is_attr = |k: usize| {
        is_adjective(tags[k]) || (after_determiner && k == range.start && is_participle(tags[k]))
    };
    let Some(first) = range.clone().find(|&k| is_attr(k)) else {
        return 0..0;
    };
    let mut end = first;
    while end < range.end && is_attr(end) {
        end += 1;
    }
    first..end
}

/// A predicate between two noun phrases: non-empty, only verbs, auxiliaries,
/// adverbs, particles, prepositions or multi-word-preposition tokens, and at
/// least one verb, auxiliary or preposition.
fn is_predicate(tags: &[Tags], blocked: &[bool], range: Range<usize>) -> bool {
    const ANCHOR: Tags = Tags::VERB.or(Tags::AUX).or(Tags::ADP);
    const ALLOWED: Tags = ANCHOR.or(Tags::ADV).or(Tags::PART);
    if range.is_empty() {
        return false;
    }
    let allowed = |k: usize| blocked[k] || tags[k].any(ALLOWED);
    let anchor = |k: usize| blocked[k] || tags[k].any(ANCHOR);
    range.clone().all(allowed) && range.clone().any(anchor)
}

/// Nouns that name a picture: "a photo of a dog" is a frame around the
/// caption, not a relation between a photo and a dog.
const PICTURE_NOUNS: &[&str] = &[
    "photo",
    "photograph",
    "picture",
    "image",
    "snapshot",
    "shot",
    "view",
    "closeup",
    "painting",
    "drawing",
];

/// `NP of NP` where the first phrase is a picture noun ("a photo of ...").
fn is_picture_frame(words: &[Word], subject: &NounPhrase, predicate: &Range<usize>) -> bool {
    // The head is lower-cased (a `String`) only after the cheap test on "of".
    let head = || words[subject.head.end - 1].word.to_lowercase();
    predicate.len() == 1
        && words[predicate.start].word.eq_ignore_ascii_case("of")
        && PICTURE_NOUNS.contains(&head().trim_end_matches('s'))
}

/// Noun phrases and the relations between neighbouring noun phrases.
pub fn chunk(words: &[Word]) -> Chunks {
    let mut chunks = Chunks::default();
    chunk_into(words, &tags_of(words), &mut Vec::new(), &mut chunks);
    chunks
}

/// [`chunk`] of `words` with `tags` ([`Tags::of`] each word) into the vectors
/// of `out` (emptied first), with `blocked` as the [`complex_preposition_mask`]'s:
/// vectors kept from caption to caption.
pub(super) fn chunk_into(words: &[Word], tags: &[Tags], blocked: &mut Vec<bool>, out: &mut Chunks) {
    complex_preposition_mask(words, blocked);
    let Chunks {
        noun_phrases,
        relations,
    } = out;
    noun_phrases.clear();
    noun_phrases_outside(tags, blocked, noun_phrases);
    relations.clear();
    let pairs = noun_phrases.windows(2).enumerate();
    relations.extend(pairs.filter_map(|(i, pair)| {
        let predicate = pair[0].span.end..pair[1].span.start;
        let relates = is_predicate(tags, blocked, predicate.clone())
            && !is_picture_frame(words, &pair[0], &predicate);
        relates.then_some(Relation {
            subject: i,
            predicate,
            object: i + 1,
        })
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::test_support::tagged;

    #[test]
    fn finds_noun_phrases_with_adjectives() {
        let w = tagged(
            "a/DT/DET white/JJ/ADJ road/NN/NOUN and/CC/CCONJ a/DT/DET paved/JJ/ADJ house/NN/NOUN",
        );
        let nps = noun_phrases(&w);
        assert_eq!(nps.len(), 2);
        assert_eq!(nps[0].span, 0..3);
        assert_eq!(nps[0].adjectives, 1..2);
        assert_eq!(nps[1].span, 4..7);
        assert_eq!(nps[1].head, 6..7);
    }

    #[test]
    fn compound_nouns_and_numbers_stay_in_one_phrase() {
        let w = tagged("two/CD/NUM red/JJ/ADJ fire/NN/NOUN trucks/NNS/NOUN");
        let nps = noun_phrases(&w);
        assert_eq!(nps.len(), 1);
        assert_eq!(nps[0].span, 0..4);
        assert_eq!(nps[0].adjectives, 1..2);
        assert_eq!(nps[0].head, 2..4);
    }

    #[test]
    fn participle_after_determiner_is_an_attribute() {
        let w = tagged("a/DT/DET parked/VBN/VERB car/NN/NOUN");
        let nps = noun_phrases(&w);
        assert_eq!(nps[0].adjectives, 1..2);
    }

    #[test]
    fn trailing_adjective_is_not_part_of_the_phrase() {
        let w = tagged("the/DT/DET car/NN/NOUN is/VBZ/AUX red/JJ/ADJ");
        let nps = noun_phrases(&w);
        assert_eq!(nps.len(), 1);
        assert_eq!(nps[0].span, 0..2);
    }

    #[test]
    fn finds_verb_and_preposition_relations() {
        let w =
            tagged("the/DT/DET horse/NN/NOUN is/VBZ/AUX eating/VBG/VERB the/DT/DET grass/NN/NOUN");
        let c = chunk(&w);
        assert_eq!(c.relations.len(), 1);
        assert_eq!(c.relations[0].predicate, 2..4);

        let w = tagged("a/DT/DET cat/NN/NOUN on/IN/ADP a/DT/DET table/NN/NOUN");
        assert_eq!(chunk(&w).relations[0].predicate, 2..3);
    }

    #[test]
    fn multiword_prepositions_are_predicates_not_phrases() {
        let w = tagged(
            "a/DT/DET dog/NN/NOUN to/TO/ADP the/DT/DET left/NN/NOUN of/IN/ADP a/DT/DET cat/NN/NOUN",
        );
        let c = chunk(&w);
        assert_eq!(c.noun_phrases.len(), 2);
        assert_eq!(c.relations[0].predicate, 2..6);

        let w = tagged(
            "a/DT/DET cup/NN/NOUN sitting/VBG/VERB on/IN/ADP top/NN/NOUN of/IN/ADP a/DT/DET table/NN/NOUN",
        );
        let c = chunk(&w);
        assert_eq!(c.noun_phrases.len(), 2);
        assert_eq!(c.relations[0].predicate, 2..6);
    }

    #[test]
    fn picture_frame_is_not_a_relation() {
        let w = tagged(
            "a/DT/DET photo/NN/NOUN of/IN/ADP a/DT/DET cross/NN/NOUN under/IN/ADP a/DT/DET circle/NN/NOUN",
        );
        let c = chunk(&w);
        assert_eq!(c.relations.len(), 1);
        assert_eq!((c.relations[0].subject, c.relations[0].object), (1, 2));

        let w = tagged("the/DT/DET handle/NN/NOUN of/IN/ADP the/DT/DET door/NN/NOUN");
        assert_eq!(chunk(&w).relations.len(), 1);
    }

    #[test]
    fn adjective_tagged_head_before_left_of_still_heads_a_phrase() {
        // The shipped tagger reads "square right" as adjective + noun.
        let w = tagged(
            "a/DT/DET blue/JJ/ADJ square/JJ/ADJ right/NN/NOUN of/IN/ADP a/DT/DET red/JJ/ADJ circle/NN/NOUN",
        );
        let c = chunk(&w);
        assert_eq!(c.noun_phrases[0].span, 0..3);
        assert_eq!(c.noun_phrases[0].adjectives, 1..2);
        assert_eq!(c.noun_phrases[0].head, 2..3);
        assert_eq!(c.relations[0].predicate, 3..5);
    }

    #[test]
    fn prepositions_are_grouped_under_distinct_first_words() {
        let mut firsts: Vec<&str> = COMPLEX_PREPOSITIONS.iter().map(|g| g.0).collect();
        firsts.sort_unstable();
        firsts.dedup();
        assert_eq!(firsts.len(), COMPLEX_PREPOSITIONS.len());
    }

    #[test]
    fn the_longest_preposition_at_a_word_is_masked() {
        let w = tagged("on/IN/ADP the/DT/DET top/NN/NOUN of/IN/ADP On/IN/ADP Top/NN/NOUN of/IN/ADP in/IN/ADP the/DT/DET");
        assert_eq!(complex_preposition_at(&w), Some(4));
        assert_eq!(complex_preposition_at(&w[4..]), Some(3));
        assert_eq!(complex_preposition_at(&w[1..]), None);
        assert_eq!(complex_preposition_at(&w[7..]), None, "cut short");
        assert_eq!(complex_preposition_at(&[]), None);
        let mut mask = vec![true; 20];
        complex_preposition_mask(&w, &mut mask);
        assert_eq!(
            mask,
            [true, true, true, true, true, true, true, false, false]
        );
    }

    #[test]
    fn conjunction_is_not_a_relation() {
        let w = tagged("a/DT/DET cat/NN/NOUN and/CC/CCONJ a/DT/DET dog/NN/NOUN");
        assert!(chunk(&w).relations.is_empty());
    }
}
