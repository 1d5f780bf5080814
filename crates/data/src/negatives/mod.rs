//! Hard-negative caption rewriters.
//!
//! A hard negative is a caption that uses (almost) the same words as the true
//! caption but no longer describes the image: two attributes, two relation
//! arguments, two nouns, ... swapped, or the word order shuffled. NegCLIP trains
//! on such captions so that CLIP stops behaving like a bag of words.
//!
//! Every rewriter works on an already tagged caption (`&[Word]`, borrowed from
//! the tagger's output), so the caption is tagged once and all rewriters share
//! the tags. The tagger itself is reached through the [`PosTagger`] trait.
//!
//! This file is the public face (re-exports); the modules below it import only
//! sideways and down:
//! - `word`: the shared types ([`Word`], [`PosTagger`], [`Negative`]), and
//!   `kind`: the rewriters' names ([`NegativeKind`]);
//! - `compare`: the normalised form captions are compared in;
//! - `tags`, `chunks`, `analysis`: a tagged caption read once for all rewriters;
//! - `candidates`: the rewrites as token orders, which the rewriters
//!   (`swap_attribute`, `swap_relation`, `unit_swaps`, `order`) push;
//! - `select`: which candidates are kept; `generate`: the whole path for one
//!   caption; `draw`: the two ways of drawing the kept ones, by rewrite
//!   ([`generate`]) and by kind ([`one_per_kind`]).

mod analysis;
pub mod bench_corpus;
mod candidates;
pub mod chunks;
mod compare;
mod draw;
mod generate;
mod kind;
pub mod order;
mod select;
mod swap;
pub mod swap_attribute;
pub mod swap_relation;
mod tags;
pub mod unit_swaps;
mod word;

#[cfg(test)]
mod properties;
#[cfg(test)]
pub(crate) mod test_support;

pub use analysis::Analysis;
pub use compare::{is_same_caption, normalise_for_comparison};
pub use draw::{one_per_kind, Draw};
pub use generate::{generate, generate_tagged, rewrite};
pub use kind::{NegativeKind, ParseKindError};
pub use order::{
    clean_caption, default_order_perturbations, order_perturbations, OrderKind, OrderPerturbation,
};
pub use word::{shipped_tagger, Negative, PosTagger, Word, WordsVisitor};
