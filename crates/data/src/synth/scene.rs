//! The synthetic world: coloured shapes on a noisy gray background, and the
//! seeded generator that turns `(seed, split, index)` into one scene.
//!
//! Everything is a pure function of its arguments so the trainer can stream
//! samples from any position and resume without storing a dataset.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::SynthError;
use crate::seed::splitmix64;

/// A shape the renderer can draw. Names are the nouns used in captions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Cross,
    /// Never in a generated scene: drawn only as out-of-distribution images (`Synth-OOD`).
    Diamond,
    /// Never in a generated scene, like [`Shape::Diamond`].
    Ring,
}

impl Shape {
    /// The shapes of the world.
    pub const ALL: [Shape; 4] = [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Cross];
    /// Shapes the world never generates, for out-of-distribution tests.
    pub const NOVEL: [Shape; 2] = [Shape::Diamond, Shape::Ring];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Cross => "cross",
            Shape::Diamond => "diamond",
            Shape::Ring => "ring",
        }
    }
}

/// A colour. The RGB values are far apart so 32-pixel renders stay unambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Red,
    Green,
    Blue,
    Yellow,
    Purple,
    White,
}

impl Colour {
    pub const ALL: [Colour; 6] = [
        Colour::Red,
        Colour::Green,
        Colour::Blue,
        Colour::Yellow,
        Colour::Purple,
        Colour::White,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Yellow => "yellow",
            Colour::Purple => "purple",
            Colour::White => "white",
        }
    }

    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => [225, 35, 35],
            Colour::Green => [40, 200, 60],
            Colour::Blue => [45, 85, 240],
            Colour::Yellow => [240, 225, 40],
            Colour::Purple => [165, 55, 210],
            Colour::White => [245, 245, 245],
        }
    }
}

/// Object size; large objects are `large_fraction / small_fraction` times bigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    Small,
    Large,
}

impl Size {
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Large => "large",
        }
    }
}

/// A spatial relation between two objects, read "subject <relation> object".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    LeftOf,
    RightOf,
    Above,
    Below,
}

impl Relation {
    pub const ALL: [Relation; 4] = [
        Relation::LeftOf,
        Relation::RightOf,
        Relation::Above,
        Relation::Below,
    ];

    /// The group name used by the evaluation suites.
    pub fn name(self) -> &'static str {
        match self {
            Relation::LeftOf => "left of",
            Relation::RightOf => "right of",
            Relation::Above => "above",
            Relation::Below => "below",
        }
    }

    /// The relation that holds with the arguments exchanged ("A left of B" = "B right of A").
    pub fn converse(self) -> Relation {
        match self {
            Relation::LeftOf => Relation::RightOf,
            Relation::RightOf => Relation::LeftOf,
            Relation::Above => Relation::Below,
            Relation::Below => Relation::Above,
        }
    }
}

/// A colour–shape combination, written "red triangle" in configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pair {
    pub colour: Colour,
    pub shape: Shape,
}

impl TryFrom<String> for Pair {
    type Error = SynthError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let bad = || SynthError::BadPair(text.clone());
        let [colour, shape] = words.as_slice() else {
            return Err(bad());
        };
        let colour = Colour::ALL
            .into_iter()
            .find(|c| c.name() == *colour)
            .ok_or_else(bad)?;
        let shape = Shape::ALL
            .into_iter()
            .find(|s| s.name() == *shape)
            .ok_or_else(bad)?;
        Ok(Pair { colour, shape })
    }
}

impl From<Pair> for String {
    fn from(pair: Pair) -> String {
        pair.to_string()
    }
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.colour.name(), self.shape.name())
    }
}

/// A disjoint stream of scenes. Each split hashes into the generator seed, and the
/// held-out colour–shape pairs appear only in `Heldout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
    Heldout,
}

impl Split {
    pub const ALL: [Split; 4] = [Split::Train, Split::Val, Split::Test, Split::Heldout];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
            Split::Heldout => "heldout",
        }
    }

    fn salt(self) -> u64 {
        match self {
            Split::Train => 0x7472_6169_6e00_0001,
            Split::Val => 0x7661_6c00_0000_0002,
            Split::Test => 0x7465_7374_0000_0003,
            Split::Heldout => 0x6865_6c64_6f75_7404,
        }
    }
}

impl std::str::FromStr for Split {
    type Err = SynthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Split::ALL
            .into_iter()
            .find(|split| split.name() == s)
            .ok_or_else(|| SynthError::BadSplit(s.to_string()))
    }
}

fn default_image_size() -> u32 {
    32
}
fn default_small() -> f32 {
    0.13
}
fn default_large() -> f32 {
    0.21
}
fn default_p_one() -> f32 {
    0.1
}
fn default_p_three() -> f32 {
    0.15
}
fn default_noise() -> u8 {
    14
}
fn default_held_out() -> Vec<Pair> {
    [
        "red triangle",
        "blue circle",
        "yellow square",
        "green cross",
    ]
    .into_iter()
    .map(|p| Pair::try_from(p.to_string()).expect("built-in pairs parse"))
    .collect()
}

/// Parameters of the world. Every field has a default, so `{}` is a valid config.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorldConfig {
    /// Side of the square image in pixels.
    #[serde(default = "default_image_size")]
    pub image_size: u32,
    /// Half-extent of a small object as a fraction of the image side.
    #[serde(default = "default_small")]
    pub small_fraction: f32,
    /// Half-extent of a large object as a fraction of the image side.
    #[serde(default = "default_large")]
    pub large_fraction: f32,
    /// Probability of a one-object scene (no relation).
    #[serde(default = "default_p_one")]
    pub p_one_object: f32,
    /// Probability of a three-object scene (the relation still names two of them).
    #[serde(default = "default_p_three")]
    pub p_three_objects: f32,
    /// Per-channel amplitude of the uniform pixel noise, in 0..=255 levels.
    #[serde(default = "default_noise")]
    pub noise_amplitude: u8,
    /// Colour–shape pairs that never appear outside the held-out split.
    #[serde(default = "default_held_out")]
    pub held_out_pairs: Vec<Pair>,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            image_size: default_image_size(),
            small_fraction: default_small(),
            large_fraction: default_large(),
            p_one_object: default_p_one(),
            p_three_objects: default_p_three(),
            noise_amplitude: default_noise(),
            held_out_pairs: default_held_out(),
        }
    }
}

impl WorldConfig {
    /// Checks that every split can be generated: sizes fit, probabilities are
    /// probabilities, and enough pairs remain outside the held-out list.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad = |msg: String| Err(SynthError::BadConfig(msg));
        if !(16..=1024).contains(&self.image_size) {
            return bad(format!(
                "image_size {} is outside 16..=1024",
                self.image_size
            ));
        }
        let sizes_ok = 0.0 < self.small_fraction
            && self.small_fraction < self.large_fraction
            && self.large_fraction <= 0.22;
        if !sizes_ok {
            return bad(format!(
                "need 0 < small_fraction ({}) < large_fraction ({}) <= 0.22 so two large objects fit side by side",
                self.small_fraction, self.large_fraction
            ));
        }
        let probs_ok = (0.0..=1.0).contains(&self.p_one_object)
            && (0.0..=1.0).contains(&self.p_three_objects)
            && self.p_one_object + self.p_three_objects < 1.0;
        if !probs_ok {
            return bad(format!(
                "p_one_object ({}) + p_three_objects ({}) must stay below 1",
                self.p_one_object, self.p_three_objects
            ));
        }
        if greedy_distinct(&allowed_pairs(self), 3).len() < 3 {
            return bad("held_out_pairs leave too few pairs for three distinct objects".into());
        }
        Ok(())
    }

    fn half_extent(&self, size: Size) -> f32 {
        let fraction = match size {
            Size::Small => self.small_fraction,
            Size::Large => self.large_fraction,
        };
        fraction * self.image_size as f32
    }

    pub(crate) fn is_held_out(&self, pair: Pair) -> bool {
        self.held_out_pairs.contains(&pair)
    }
}

/// One object: centre `(x, y)` in pixels, y growing downwards as in the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Object {
    pub shape: Shape,
    pub colour: Colour,
    pub size: Size,
    pub x: f32,
    pub y: f32,
    /// Half of the object's side in pixels (the radius for a circle).
    pub half_extent: f32,
}

impl Object {
    pub fn pair(&self) -> Pair {
        Pair {
            colour: self.colour,
            shape: self.shape,
        }
    }
}

/// A generated scene. Objects have pairwise distinct colours and distinct shapes,
/// so "the red circle" always names one object and swapped captions are false.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub objects: Vec<Object>,
    /// `(subject, relation, object)`: present whenever there are two or more objects.
    pub relation: Option<(usize, Relation, usize)>,
    /// Background gray level before noise.
    pub background: u8,
    /// Seed of the pixel noise, so rendering is deterministic too.
    pub noise_seed: u64,
}

/// The rng for one `(seed, split, index)` and purpose (`stream` 0 = scene,
/// 1 = training caption, higher = evaluation suites).
pub(crate) fn rng_for(seed: u64, split: Split, index: u64, stream: u64) -> ChaCha8Rng {
    let key = splitmix64(splitmix64(splitmix64(seed ^ split.salt()) ^ index) ^ stream);
    ChaCha8Rng::seed_from_u64(key)
}

/// Generates scene `index` of `split`. A pure function of its arguments.
pub fn scene(split: Split, index: u64, cfg: &WorldConfig, seed: u64) -> Scene {
    let mut rng = rng_for(seed, split, index, 0);
    let count = object_count(cfg, &mut rng);
    let pairs = choose_pairs(split, cfg, count, &mut rng);
    let mut objects: Vec<Object> = pairs
        .into_iter()
        .map(|pair| {
            let size = if rng.random_bool(0.5) {
                Size::Small
            } else {
                Size::Large
            };
            Object {
                shape: pair.shape,
                colour: pair.colour,
                size,
                x: 0.0,
                y: 0.0,
                half_extent: cfg.half_extent(size),
            }
        })
        .collect();
    let relation = place(&mut objects, cfg, &mut rng);
    Scene {
        objects,
        relation,
        background: rng.random_range(55..=105),
        noise_seed: rng.random(),
    }
}

fn object_count(cfg: &WorldConfig, rng: &mut ChaCha8Rng) -> usize {
    let u: f32 = rng.random();
    if u < cfg.p_one_object {
        1
    } else if u < cfg.p_one_object + cfg.p_three_objects {
        3
    } else {
        2
    }
}

/// Pairs usable outside the held-out split.
fn allowed_pairs(cfg: &WorldConfig) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for colour in Colour::ALL {
        for shape in Shape::ALL {
            let pair = Pair { colour, shape };
            if !cfg.is_held_out(pair) {
                pairs.push(pair);
            }
        }
    }
    pairs
}

/// Takes pairs in order, skipping any whose colour or shape is already used.
fn greedy_distinct(pairs: &[Pair], count: usize) -> Vec<Pair> {
    let mut chosen: Vec<Pair> = Vec::with_capacity(count);
    for &pair in pairs {
        if chosen.len() == count {
            break;
        }
        if chosen
            .iter()
            .all(|c| c.colour != pair.colour && c.shape != pair.shape)
        {
            chosen.push(pair);
        }
    }
    chosen
}

/// Chooses `count` pairs with distinct colours and shapes. Outside the held-out
/// split no held-out pair is used; in it, one of the first two objects (the ones
/// a relation names) is a held-out pair, so every held-out item tests one.
fn choose_pairs(split: Split, cfg: &WorldConfig, count: usize, rng: &mut ChaCha8Rng) -> Vec<Pair> {
    let mut allowed = allowed_pairs(cfg);
    allowed.shuffle(rng);
    if split != Split::Heldout || cfg.held_out_pairs.is_empty() {
        return greedy_distinct(&allowed, count);
    }
    let held = cfg.held_out_pairs[rng.random_range(0..cfg.held_out_pairs.len())];
    let mut candidates = vec![held];
    candidates.extend(allowed);
    let mut pairs = greedy_distinct(&candidates, count);
    if pairs.len() >= 2 && rng.random_bool(0.5) {
        pairs.swap(0, 1);
    }
    pairs
}

/// Whether `rel` holds clearly between two objects: their boxes are separated
/// along the relation's axis, and the offset along that axis dominates the
/// offset across it (so "left of" is never also read as "above").
pub fn relation_holds(subject: &Object, rel: Relation, object: &Object) -> bool {
    let (along, across) = match rel {
        Relation::LeftOf => (object.x - subject.x, object.y - subject.y),
        Relation::RightOf => (subject.x - object.x, object.y - subject.y),
        Relation::Above => (object.y - subject.y, object.x - subject.x),
        Relation::Below => (subject.y - object.y, object.x - subject.x),
    };
    along > subject.half_extent + object.half_extent && across.abs() <= 0.5 * along
}

/// Whether two objects' bounding boxes are apart by at least one pixel.
pub fn disjoint(a: &Object, b: &Object) -> bool {
    let reach = a.half_extent + b.half_extent + 1.0;
    (a.x - b.x).abs() >= reach || (a.y - b.y).abs() >= reach
}

/// Places the objects and returns the relation between the first two. A third
/// object that finds no free spot (rare: two large objects fill the canvas) is
/// dropped rather than allowed to overlap.
fn place(
    objects: &mut Vec<Object>,
    cfg: &WorldConfig,
    rng: &mut ChaCha8Rng,
) -> Option<(usize, Relation, usize)> {
    let side = cfg.image_size as f32;
    if objects.len() == 1 {
        (objects[0].x, objects[0].y) = random_centre(&objects[0], side, rng);
        return None;
    }
    if objects.len() < 2 {
        return None;
    }
    let rel = Relation::ALL[rng.random_range(0..4)];
    let (head, tail) = objects.split_at_mut(1);
    place_pair(&mut head[0], rel, &mut tail[0], side, rng);
    let mut kept = 2;
    for i in 2..objects.len() {
        let mut extra = objects[i];
        if place_apart(&mut extra, &objects[..kept], cfg, rng) {
            objects[kept] = extra;
            kept += 1;
        }
    }
    objects.truncate(kept);
    Some((0, rel, 1))
}

fn random_centre(obj: &Object, side: f32, rng: &mut ChaCha8Rng) -> (f32, f32) {
    let lo = obj.half_extent + 1.0;
    let hi = side - obj.half_extent - 1.0;
    (rng.random_range(lo..=hi), rng.random_range(lo..=hi))
}

/// Samples positions that make the relation hold with a visible gap: first the
/// coordinates along the relation's axis (object at least `gap` beyond touching),
/// then the cross-axis offset within half the along-axis distance. Falls back to a
/// fixed layout when the objects cannot fit (only for configs that fail
/// [`WorldConfig::validate`]).
pub(crate) fn place_pair(
    subject: &mut Object,
    rel: Relation,
    object: &mut Object,
    side: f32,
    rng: &mut ChaCha8Rng,
) {
    let (rs, ro) = (subject.half_extent, object.half_extent);
    let need = rs + ro + 0.06 * side;
    let s_hi = (side - ro - 1.0 - need).min(side - rs - 1.0);
    if s_hi < rs + 1.0 {
        let (near, far, mid) = (0.25 * side, 0.75 * side, 0.5 * side);
        let ((sx, sy), (ox, oy)) = match rel {
            Relation::LeftOf => ((near, mid), (far, mid)),
            Relation::RightOf => ((far, mid), (near, mid)),
            Relation::Above => ((mid, near), (mid, far)),
            Relation::Below => ((mid, far), (mid, near)),
        };
        (subject.x, subject.y, object.x, object.y) = (sx, sy, ox, oy);
        return;
    }
    // Along-axis coordinates for "subject before object" (left of / above).
    let us = rng.random_range(rs + 1.0..=s_hi);
    let uo = rng.random_range((us + need).max(ro + 1.0)..=side - ro - 1.0);
    let vs = rng.random_range(rs + 1.0..=side - rs - 1.0);
    let spread = 0.5 * (uo - us);
    let vo_lo = (vs - spread).max(ro + 1.0);
    let vo_hi = (vs + spread).min(side - ro - 1.0);
    let vo = if vo_lo < vo_hi {
        rng.random_range(vo_lo..=vo_hi)
    } else {
        vs.clamp(ro + 1.0, side - ro - 1.0)
    };
    // Mirror for "right of" / "below", and swap axes for the vertical relations.
    let (us, uo) = match rel {
        Relation::LeftOf | Relation::Above => (us, uo),
        Relation::RightOf | Relation::Below => (side - us, side - uo),
    };
    match rel {
        Relation::LeftOf | Relation::RightOf => {
            (subject.x, subject.y, object.x, object.y) = (us, vs, uo, vo)
        }
        Relation::Above | Relation::Below => {
            (subject.x, subject.y, object.x, object.y) = (vs, us, vo, uo)
        }
    }
}

/// Places an extra object clear of the others, shrinking it to small when a
/// large one finds no room. Returns false when no spot was found.
pub(crate) fn place_apart(
    obj: &mut Object,
    placed: &[Object],
    cfg: &WorldConfig,
    rng: &mut ChaCha8Rng,
) -> bool {
    let side = cfg.image_size as f32;
    for attempt in 0..400 {
        if attempt == 200 {
            obj.size = Size::Small;
            obj.half_extent = cfg.half_extent(Size::Small);
        }
        (obj.x, obj.y) = random_centre(obj, side, rng);
        if placed.iter().all(|p| disjoint(obj, p)) {
            return true;
        }
    }
    false
}
