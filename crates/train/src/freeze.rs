//! Partial fine-tuning: the parameters a run keeps fixed.
//!
//! The run file names them in `[optim]`: `freeze`, glob patterns over open_clip's parameter
//! names (`"visual.*"`, `"transformer.resblocks.[0-5].*"`, `"token_embedding.weight"`), and
//! open_clip's tower locks (`--lock-image`, `--lock-image-unlocked-groups`, `--lock-text`,
//! `--lock-text-unlocked-layers`, `--lock-text-freeze-layer-norm`), with the layer groups of
//! open_clip's `VisionTransformer.lock` and `lock_text_tower` (src/open_clip/transformer.py).
//! [`Freeze`] is that description, checked when the file is read; [`Freeze::resolve`] turns it
//! into a [`FrozenSet`] of names against the model, once per run, and [`FrozenSet::apply`]
//! turns gradient tracking off on those parameters. Burn then records no graph for operations
//! whose inputs are all fixed (a locked tower keeps no activations), the parameters get no
//! gradient, and AdamW, which updates only what has a gradient, allocates them no moments and
//! gives them no weight decay: they stay bit-identical.
//!
//! The names are open_clip's state-dict names (the NegCLIP release's, and what open_clip's
//! `named_parameters()` prints), whatever naming the checkpoint was read from. A resumed run
//! re-derives the set from the config stored in its checkpoint, so it freezes what it started
//! with.

use std::collections::BTreeSet;
use std::fmt;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;
use negclip_model::Clip;
use serde::{Deserialize, Serialize};

use crate::config::OptimSection;
use crate::error::TrainError;

/// One `optim.freeze` pattern: a glob over open_clip parameter names (`*` any characters, dots
/// included; `?` one character; `[0-5]` one of a set), matched against the whole name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FreezePattern(glob::Pattern);

impl TryFrom<String> for FreezePattern {
    type Error = String;

    fn try_from(text: String) -> Result<FreezePattern, String> {
        glob::Pattern::new(&text)
            .map(FreezePattern)
            .map_err(|e| format!("optim.freeze: {text:?} is not a pattern: {e}"))
    }
}

impl From<FreezePattern> for String {
    fn from(pattern: FreezePattern) -> String {
        pattern.0.as_str().to_string()
    }
}

impl FreezePattern {
    fn matches(&self, name: &str) -> bool {
        self.0.matches(name)
    }
}

impl fmt::Display for FreezePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// open_clip's `lock_text_tower`: every text group but the last `unlocked_layers` fixed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextLock {
    pub unlocked_layers: usize,
    /// `false`: the layer norms of the locked groups still train (open_clip's Hugging Face
    /// text towers; its own towers accept only `true`).
    pub freeze_layer_norm: bool,
}

/// What a run keeps fixed, as the run file says it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Freeze {
    pub patterns: Vec<FreezePattern>,
    /// open_clip's `lock_image_tower(unlocked_groups)`.
    pub image_unlocked_groups: Option<usize>,
    pub text: Option<TextLock>,
}

impl Freeze {
    /// The `[optim]` keys as one description; an error names a key that only means something
    /// beside a lock that is off.
    pub fn from_optim(optim: &OptimSection) -> Result<Freeze, String> {
        let needs = |key: &str, lock: &str| {
            format!("optim.{key} applies to a locked tower: it needs optim.{lock} = true")
        };
        if !optim.lock_image && optim.lock_image_unlocked_groups > 0 {
            return Err(needs("lock_image_unlocked_groups", "lock_image"));
        }
        if !optim.lock_text && optim.lock_text_unlocked_layers > 0 {
            return Err(needs("lock_text_unlocked_layers", "lock_text"));
        }
        if !optim.lock_text && !optim.lock_text_freeze_layer_norm {
            return Err(needs("lock_text_freeze_layer_norm", "lock_text"));
        }
        Ok(Freeze {
            patterns: optim.freeze.clone(),
            image_unlocked_groups: optim.lock_image.then_some(optim.lock_image_unlocked_groups),
            text: optim.lock_text.then_some(TextLock {
                unlocked_layers: optim.lock_text_unlocked_layers,
                freeze_layer_norm: optim.lock_text_freeze_layer_norm,
            }),
        })
    }

    /// The names this description fixes in `model`. A pattern that matches no parameter is an
    /// error that lists the names there are, and so is a freeze that leaves nothing to train.
    pub fn resolve(&self, model: &Clip) -> Result<FrozenSet, TrainError> {
        let params = parameters(model);
        let mut frozen = BTreeSet::new();
        if let Some(unlocked) = self.image_unlocked_groups {
            let layers = model.visual.transformer.resblocks.len();
            for p in &params {
                if VISION.is_locked(&p.name, layers, unlocked) {
                    frozen.insert(p.name.clone());
                }
            }
        }
        if let Some(lock) = self.text {
            let layers = model.text.transformer.resblocks.len();
            for p in &params {
                let spared = !lock.freeze_layer_norm && is_layer_norm(&p.name);
                if TEXT.is_locked(&p.name, layers, lock.unlocked_layers) && !spared {
                    frozen.insert(p.name.clone());
                }
            }
        }
        for pattern in &self.patterns {
            let mut matched = false;
            for p in params.iter().filter(|p| pattern.matches(&p.name)) {
                matched = true;
                frozen.insert(p.name.clone());
            }
            if !matched {
                return Err(config_error(format!(
                    "the pattern \"{pattern}\" matches no parameter. Patterns match open_clip's parameter names, which here are: {}",
                    name_groups(&params)
                )));
            }
        }
        let counts = ParamCounts::of(&params, &frozen);
        if counts.trainable == 0 {
            return Err(config_error(
                "the freeze leaves no parameter to train (optim.freeze and the lock_* keys)".into(),
            ));
        }
        Ok(FrozenSet {
            names: frozen,
            counts,
        })
    }
}

fn config_error(message: String) -> TrainError {
    TrainError::Config {
        path: "optim.freeze".into(),
        message,
    }
}

/// The parameters a run keeps fixed, by open_clip name, resolved once against its model.
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenSet {
    names: BTreeSet<String>,
    counts: ParamCounts,
}

impl FrozenSet {
    /// The parameters of `model` that the `[optim]` section fixes.
    pub fn of_run(optim: &OptimSection, model: &Clip) -> Result<FrozenSet, TrainError> {
        Freeze::from_optim(optim)
            .map_err(|message| TrainError::Config {
                path: "optim".into(),
                message,
            })?
            .resolve(model)
    }

    /// Nothing fixed.
    pub fn none(model: &Clip) -> FrozenSet {
        FrozenSet {
            counts: ParamCounts::of(&parameters(model), &BTreeSet::new()),
            names: BTreeSet::new(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// The fixed names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    pub fn counts(&self) -> ParamCounts {
        self.counts
    }

    /// `model` with gradient tracking off on the fixed parameters (the others as they were).
    pub fn apply(&self, model: Clip) -> Clip {
        if self.names.is_empty() {
            return model;
        }
        model.map(&mut StopGradients {
            frozen: self,
            path: Vec::new(),
        })
    }
}

/// Scalar parameters of a model: all of them, those that train and those fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCounts {
    pub total: usize,
    pub trainable: usize,
    pub frozen: usize,
}

impl ParamCounts {
    fn of(params: &[NamedParam], frozen: &BTreeSet<String>) -> ParamCounts {
        let total = params.iter().map(|p| p.size).sum();
        let frozen: usize = params
            .iter()
            .filter(|p| frozen.contains(&p.name))
            .map(|p| p.size)
            .sum();
        ParamCounts {
            total,
            trainable: total - frozen,
            frozen,
        }
    }
}

/// The line a run prints at its start.
impl fmt::Display for ParamCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parameters: total {}, trainable {}, frozen {}",
            self.total, self.trainable, self.frozen
        )
    }
}

/// Whether any parameter of `module` tracks gradients (a tower with none needs no backward).
pub fn trains<M: Module>(module: &M) -> bool {
    struct Any(bool);
    impl ModuleVisitor for Any {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 |= param.val().is_require_grad();
        }
    }
    let mut any = Any(false);
    module.visit(&mut any);
    any.0
}

/// A parameter's open_clip name and its number of scalars.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedParam {
    pub name: String,
    pub size: usize,
}

/// Every parameter of `model`, by open_clip name, in module order.
pub fn parameters(model: &Clip) -> Vec<NamedParam> {
    struct Names {
        path: Vec<String>,
        out: Vec<NamedParam>,
    }
    impl ModuleVisitor for Names {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.out.push(NamedParam {
                name: open_clip_name(&self.path),
                size: param.lazy_shape().num_elements(),
            });
        }
    }
    let mut names = Names {
        path: Vec::new(),
        out: Vec::new(),
    };
    model.visit(&mut names);
    names.out
}

/// open_clip's state-dict name of the parameter at Burn module path `path`: the text tower's
/// parameters sit at the top level, layer norms hold `weight`/`bias` (Burn: `gamma`/`beta`),
/// the fused attention input is `in_proj_weight`, the projections and the patch kernel are
/// bare tensors or `conv1.weight` (`negclip_model::weights::params` writes the same names).
fn open_clip_name(path: &[String]) -> String {
    let path = match path.split_first() {
        Some((first, rest)) if first == "text" => rest,
        _ => path,
    };
    let joined = path.join(".");
    let renamed = match joined.as_str() {
        "visual.proj.weight" => "visual.proj".to_string(),
        "text_projection.weight" => "text_projection".to_string(),
        "visual.conv1" => "visual.conv1.weight".to_string(),
        _ => joined.replace("attn.in_proj.", "attn.in_proj_"),
    };
    if let Some(stem) = renamed.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = renamed.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        renamed
    }
}

/// A tower's names in open_clip's layer groups, first to last: the stem (embeddings), one
/// group per residual block but the last, the last block with the final layer norm, the
/// projection. `lock(unlocked_groups = g)` fixes all but the last `g` groups.
struct TowerGroups {
    /// Names (exact) or prefixes (ending in '.') of the stem's parameters.
    stem: &'static [&'static str],
    blocks: &'static str,
    final_norm: &'static str,
    projection: &'static str,
}

/// open_clip's `VisionTransformer.lock`: [conv1, class_embedding, positional_embedding,
/// ln_pre], resblocks[:-1] each, [resblocks[-1], ln_post], proj.
const VISION: TowerGroups = TowerGroups {
    stem: &[
        "visual.conv1.",
        "visual.class_embedding",
        "visual.positional_embedding",
        "visual.ln_pre.",
    ],
    blocks: "visual.transformer.resblocks.",
    final_norm: "visual.ln_post.",
    projection: "visual.proj",
};

/// open_clip's `lock_text_tower`: [token_embedding, positional_embedding], resblocks[:-1]
/// each, [resblocks[-1], ln_final], text_projection.
const TEXT: TowerGroups = TowerGroups {
    stem: &["token_embedding.", "positional_embedding"],
    blocks: "transformer.resblocks.",
    final_norm: "ln_final.",
    projection: "text_projection",
};

impl TowerGroups {
    /// The group of `name` in a tower of `layers` blocks (`layers + 2` groups), or `None` when
    /// the name is not the tower's.
    fn group(&self, name: &str, layers: usize) -> Option<usize> {
        let is = |entry: &str| match entry.ends_with('.') {
            true => name.starts_with(entry),
            false => name == entry,
        };
        if self.stem.iter().any(|entry| is(entry)) {
            return Some(0);
        }
        if let Some((block, _)) = self.block_of(name) {
            return Some(1 + block.min(layers - 1));
        }
        if is(self.final_norm) {
            return Some(layers);
        }
        is(self.projection).then_some(layers + 1)
    }

    /// The block index of `name` and its name inside the block, if it is in a block.
    fn block_of<'n>(&self, name: &'n str) -> Option<(usize, &'n str)> {
        let (index, local) = name.strip_prefix(self.blocks)?.split_once('.')?;
        Some((index.parse().ok()?, local))
    }

    /// Whether `lock(unlocked)` fixes `name` (open_clip unlocks `groups[-unlocked:]`, all of
    /// them when `unlocked` exceeds their number).
    fn is_locked(&self, name: &str, layers: usize, unlocked: usize) -> bool {
        let groups = layers + 2;
        self.group(name, layers)
            .is_some_and(|group| group + unlocked.min(groups) < groups)
    }
}

/// A layer norm's gain or bias (`ln_1`, `ln_2`, `ln_final`, …).
fn is_layer_norm(name: &str) -> bool {
    name.split('.').any(|part| part.starts_with("ln_"))
}

/// The names of `params` for an error message, each tower's blocks folded into one entry
/// (`visual.transformer.resblocks.<0 to 11>.*`), then the names inside a block.
fn name_groups(params: &[NamedParam]) -> String {
    let towers = [&VISION, &TEXT];
    let last_block = |tower: &TowerGroups| {
        let indices = params.iter().filter_map(|p| tower.block_of(&p.name));
        indices.map(|(index, _)| index).max().unwrap_or(0)
    };
    let (mut entries, mut block_local) = (Vec::<String>::new(), Vec::new());
    for p in params {
        let in_block = towers
            .iter()
            .find_map(|tower| Some((tower, tower.block_of(&p.name)?)));
        let entry = match in_block {
            Some((tower, (index, local))) => {
                if index == 0 && tower.blocks == VISION.blocks {
                    block_local.push(local);
                }
                format!("{}<0 to {}>.*", tower.blocks, last_block(tower))
            }
            None => p.name.clone(),
        };
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    format!(
        "{} (a block holds {})",
        entries.join(", "),
        block_local.join(", ")
    )
}

/// Turns gradient tracking off on the parameters of a [`FrozenSet`].
struct StopGradients<'a> {
    frozen: &'a FrozenSet,
    path: Vec<String>,
}

impl ModuleMapper for StopGradients<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.frozen.contains(&open_clip_name(&self.path)) {
            true => param.set_require_grad(false),
            false => param,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recompute::Activations;
    use burn::tensor::Device;
    use negclip_model::{weights, ClipConfig};

    fn tiny() -> Clip {
        ClipConfig::preset("tiny").unwrap().init(&Device::flex())
    }

    fn optim(toml: &str) -> OptimSection {
        let text = format!("lr = 1e-3\nbatch_size = 2\nepochs = 1\n{toml}");
        toml::from_str(&text).unwrap()
    }

    fn resolve(toml: &str) -> Result<FrozenSet, String> {
        let freeze = Freeze::from_optim(&optim(toml))?;
        freeze.resolve(&tiny()).map_err(|e| e.to_string())
    }

    fn trainable(set: &FrozenSet, prefix: &str) -> Vec<String> {
        parameters(&tiny())
            .into_iter()
            .map(|p| p.name)
            .filter(|name| name.starts_with(prefix) && !set.contains(name))
            .collect()
    }

    /// What `scripts/make_freeze_fixture.py` recorded from open_clip.
    #[derive(Deserialize)]
    struct Fixture {
        parameters: Vec<(String, usize)>,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        lock_image: Option<usize>,
        lock_text: Option<usize>,
        frozen: Vec<String>,
    }

    fn fixture() -> Fixture {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/freeze/open_clip_locks.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn names_are_open_clips_named_parameters_and_state_dict_keys() {
        let model = tiny();
        let mut ours: Vec<(String, usize)> = parameters(&model)
            .into_iter()
            .map(|p| (p.name, p.size))
            .collect();
        let mut open_clip = fixture().parameters;
        ours.sort();
        open_clip.sort();
        assert_eq!(ours, open_clip);
        let state_dict = weights::state_dict(&model, weights::Naming::OpenClip);
        let keys: Vec<&String> = state_dict.keys().collect();
        let names: Vec<&String> = ours.iter().map(|(name, _)| name).collect();
        assert_eq!(keys, names, "the names weights::state_dict writes");
    }

    #[test]
    fn tower_locks_fix_what_open_clips_locks_fix() {
        for case in fixture().cases {
            let mut keys = vec![];
            if let Some(groups) = case.lock_image {
                keys.push(format!(
                    "lock_image = true\nlock_image_unlocked_groups = {groups}"
                ));
            }
            if let Some(layers) = case.lock_text {
                keys.push(format!(
                    "lock_text = true\nlock_text_unlocked_layers = {layers}"
                ));
            }
            let keys = keys.join("\n");
            match resolve(&keys) {
                Ok(set) => {
                    let ours: Vec<&str> = set.names().collect();
                    assert_eq!(ours, case.frozen, "{keys}");
                }
                Err(e) => panic!("{keys}: {e}"),
            }
        }
    }

    #[test]
    fn one_unlocked_image_group_leaves_the_projection_training() {
        let set = resolve("lock_image = true\nlock_image_unlocked_groups = 1").unwrap();
        assert_eq!(trainable(&set, "visual."), ["visual.proj"]);
        assert!(!set.contains("logit_scale") && !set.contains("text_projection"));
        let two = resolve("lock_image = true\nlock_image_unlocked_groups = 2").unwrap();
        let last_block: Vec<String> = trainable(&two, "visual.");
        assert!(last_block.contains(&"visual.ln_post.weight".to_string()));
        assert!(last_block.contains(&"visual.transformer.resblocks.1.mlp.c_fc.weight".to_string()));
        assert!(!last_block.iter().any(|n| n.contains("resblocks.0.")));
    }

    #[test]
    fn unfrozen_layer_norms_train_in_a_locked_text_tower() {
        let set = resolve("lock_text = true\nlock_text_freeze_layer_norm = false").unwrap();
        let training = trainable(&set, "");
        let text: Vec<&String> = training
            .iter()
            .filter(|n| !n.starts_with("visual."))
            .collect();
        assert_eq!(
            text,
            [
                "transformer.resblocks.0.ln_1.weight",
                "transformer.resblocks.0.ln_1.bias",
                "transformer.resblocks.0.ln_2.weight",
                "transformer.resblocks.0.ln_2.bias",
                "transformer.resblocks.1.ln_1.weight",
                "transformer.resblocks.1.ln_1.bias",
                "transformer.resblocks.1.ln_2.weight",
                "transformer.resblocks.1.ln_2.bias",
                "ln_final.weight",
                "ln_final.bias",
                "logit_scale",
            ]
        );
    }

    #[test]
    fn patterns_match_whole_open_clip_names() {
        let set = resolve(r#"freeze = ["transformer.resblocks.*", "logit_scale"]"#).unwrap();
        assert!(set.contains("transformer.resblocks.1.attn.in_proj_weight"));
        assert!(set.contains("logit_scale"));
        // The text tower's blocks only: the pattern is anchored, so `visual.…` is not matched.
        assert!(!set.names().any(|n| n.starts_with("visual.")));
        let one = resolve(r#"freeze = ["visual.transformer.resblocks.[0].*"]"#).unwrap();
        assert_eq!(one.names().count(), 12);
        let counts = resolve(r#"freeze = ["visual.*"]"#).unwrap().counts();
        let image: usize = parameters(&tiny())
            .iter()
            .filter(|p| p.name.starts_with("visual."))
            .map(|p| p.size)
            .sum();
        assert_eq!(counts.frozen, image);
        assert_eq!(counts.total, tiny().num_params());
        assert_eq!(counts.trainable, counts.total - image);
        assert_eq!(
            counts.to_string(),
            format!(
                "parameters: total {}, trainable {}, frozen {image}",
                counts.total, counts.trainable
            )
        );
    }

    #[test]
    fn a_pattern_that_matches_nothing_lists_the_names() {
        let err = resolve(r#"freeze = ["visual.*", "vision.*"]"#).unwrap_err();
        assert!(err.starts_with("optim.freeze: the pattern \"vision.*\" matches no parameter"));
        for listed in [
            "visual.conv1.weight",
            "visual.transformer.resblocks.<0 to 1>.*",
            "visual.proj",
            "token_embedding.weight",
            ", transformer.resblocks.<0 to 1>.*",
            "text_projection",
            "logit_scale",
            "(a block holds ln_1.weight, ln_1.bias, attn.in_proj_weight",
        ] {
            assert!(err.contains(listed), "{listed} in {err}");
        }
    }

    #[test]
    fn freezing_everything_or_half_a_setting_is_an_error() {
        let err = resolve(r#"freeze = ["*"]"#).unwrap_err();
        assert!(err.contains("leaves no parameter to train"), "{err}");
        let err = resolve("lock_image_unlocked_groups = 2").unwrap_err();
        assert!(err.contains("it needs optim.lock_image = true"), "{err}");
        let err = resolve("lock_text_freeze_layer_norm = false").unwrap_err();
        assert!(err.contains("it needs optim.lock_text = true"), "{err}");
        let bad: Result<OptimSection, _> =
            toml::from_str("lr = 1e-3\nbatch_size = 2\nepochs = 1\nfreeze = [\"visual.[\"]");
        let err = bad.unwrap_err().to_string();
        assert!(err.contains("\"visual.[\" is not a pattern"), "{err}");
    }

    #[test]
    fn applying_the_set_stops_gradients_of_those_parameters_only() {
        let device = Device::flex().autodiff();
        let model = ClipConfig::preset("tiny").unwrap().init(&device);
        let freeze = Freeze::from_optim(&optim("lock_image = true")).unwrap();
        let set = freeze.resolve(&model).unwrap();
        let model = set.apply(model);
        assert!(!trains(&model.visual));
        assert!(trains(&model.text));
        assert!(model.logit_scale.val().is_require_grad());
        assert_eq!(FrozenSet::none(&model).counts().frozen, 0);
    }

    /// Every parameter's values by open_clip name.
    fn values(model: &Clip) -> std::collections::BTreeMap<String, Vec<f32>> {
        struct Values(Vec<Vec<f32>>);
        impl ModuleVisitor for Values {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let data = param.val().into_data().convert::<f32>();
                self.0.push(data.try_to_vec::<f32>().unwrap());
            }
        }
        let mut values = Values(Vec::new());
        model.visit(&mut values);
        let names = parameters(model).into_iter().map(|p| p.name);
        names.zip(values.0).collect()
    }

    /// Three steps of the shipped tiny model with `freeze` keys, the batch in `k`
    /// micro-batches: the fixed parameters stay bit-identical (no update, no weight decay) and
    /// get no AdamW moments; every other parameter moves.
    fn fixed_stay_and_the_rest_move(keys: &str, k: usize, activations: Activations) {
        use crate::engine::Engine;
        use crate::optim::{AdamW, AdamWSettings};
        use crate::precision::Precision;
        use crate::step::{negclip_step, DeviceBatch, StepSettings, UpdateSettings};
        use burn::tensor::{Int, TensorData};

        let device = Device::flex().autodiff();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/synthetic-tiny-clip.safetensors"
        );
        let loaded = weights::load(std::path::Path::new(path), &device).unwrap();
        let set = FrozenSet::of_run(&optim(keys), &loaded.model).unwrap();
        let mut model = set.apply(loaded.model);
        let before = values(&model);
        let update = UpdateSettings {
            grad_clip_norm: Some(1.0),
            accum_steps: std::num::NonZeroUsize::new(k).unwrap(),
            precision: Precision::Fp32,
            activations,
        };
        let settings = StepSettings::new(&loaded.config, update, &device, &Engine::single());
        let (s, l) = (
            loaded.config.vision.image_size,
            loaded.config.text.context_length,
        );
        let pixels: Vec<f32> = (0..4 * 3 * s * s)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        // Start, two or three words, end of text (the highest id), padding.
        let eot = loaded.config.text.vocab_size as i64 - 1;
        let rows: Vec<i64> = (0..6)
            .flat_map(|r| {
                let mut row = vec![0i64; l];
                row[0] = eot - 1;
                row[1] = 320 + r;
                row[2] = 500 + 7 * r;
                row[3] = if r % 2 == 0 { eot } else { 900 + r };
                row[4] = eot;
                row
            })
            .collect();
        let mut optimizer = AdamW::new(AdamWSettings::default());
        for _ in 0..3 {
            let tokens =
                Tensor::<2, Int>::from_data(TensorData::new(rows.clone(), [6, l]), &device);
            let batch = DeviceBatch {
                images: Tensor::from_data(TensorData::new(pixels.clone(), [4, 3, s, s]), &device),
                positives: tokens.clone().narrow(0, 0, 4),
                negatives: Some(tokens.narrow(0, 4, 2)),
            };
            model = negclip_step(model, &mut optimizer, batch, 1e-3, &settings, None)
                .unwrap()
                .0;
        }
        let after = values(&model);
        for (name, old) in &before {
            match set.contains(name) {
                true => assert_eq!(&after[name], old, "{keys}, k = {k}: fixed {name} moved"),
                false => assert_ne!(&after[name], old, "{keys}, k = {k}: {name} did not move"),
            }
        }
        let state = optimizer.state();
        // State keys are `m.<module path>` or `v.<module path>`, `#decay` marked.
        let name_of = |key: &str| {
            let path = key[2..].trim_end_matches("#decay").split('.');
            open_clip_name(&path.map(str::to_string).collect::<Vec<_>>())
        };
        let with_state: BTreeSet<String> = state.keys().map(|key| name_of(key)).collect();
        let trainable: BTreeSet<String> = before
            .keys()
            .filter(|name| !set.contains(name))
            .cloned()
            .collect();
        assert_eq!(
            with_state, trainable,
            "{keys}: moments for exactly the trainable"
        );
    }

    #[test]
    fn steps_leave_a_locked_image_tower_bit_identical() {
        fixed_stay_and_the_rest_move("lock_image = true", 1, Activations::Kept);
    }

    #[test]
    fn steps_in_micro_batches_leave_fixed_patterns_bit_identical() {
        fixed_stay_and_the_rest_move(
            "lock_image = true\nfreeze = [\"token_embedding.weight\"]",
            2,
            Activations::Kept,
        );
    }

    #[test]
    fn partly_locked_towers_train_only_their_open_groups() {
        // The image tower's projection alone, its blocks recomputed in the backward pass; the
        // text tower's last block, final norm and projection, in two micro-batches.
        let image = "lock_image = true\nlock_image_unlocked_groups = 1";
        fixed_stay_and_the_rest_move(image, 1, Activations::Recomputed);
        let text = "lock_text = true\nlock_text_unlocked_layers = 2";
        fixed_stay_and_the_rest_move(text, 2, Activations::Kept);
        fixed_stay_and_the_rest_move(text, 1, Activations::Recomputed);
    }
}
