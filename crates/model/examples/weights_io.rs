//! Checkpoint save and load time, negclip's hand-written path against burn-store's
//! `SafetensorsStore`, on the same randomly initialised model:
//!
//! ```text
//! cargo run --release -p negclip-model --example weights_io [-- --presets tiny,vit-b-32 --pairs 3 --dir DIR]
//! ```
//!
//! Four ways of writing and reading one safetensors file, run in turn (A B C D, A B C D, ...)
//! so that load from another process on the machine falls on all of them alike; the medians
//! are printed:
//!
//! - `hand/open_clip`: `weights::save(.., Naming::OpenClip, ..)` and `weights::load`.
//! - `hand/hf`: the same with HuggingFace names (q/k/v split on save, fused on load).
//! - `store/burn`: `model.save_into` / `model.load_from` a `SafetensorsStore` with Burn's own
//!   names and no adapter: the least burn-store can do.
//! - `store/open_clip`: a `SafetensorsStore` writing and reading open_clip's names, through key
//!   remapping and an adapter built on burn-store's PyTorch one.
//!
//! Every loaded model is checked bit-exact against the saved one, and the files of the two
//! open_clip paths are read by the other path. A final probe shows how far burn-store's
//! remapping gets with a HuggingFace file.
//!
//! One operation alone, for its peak memory under `/usr/bin/time -v` (a load reads the file
//! an earlier run left in `--dir`; `init` is the baseline: the model alone):
//!
//! ```text
//! /usr/bin/time -v target/release/examples/weights_io --preset vit-b-32 --only save:store/burn
//! ```

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Shape, TensorData};
use burn_store::burn_pack::Tensor as PackTensor;
use burn_store::{
    bridge, BurnToPyTorchAdapter, KeyRemapper, ModuleAdapter, ModuleContext, ModuleSnapshot,
    PyTorchToBurnAdapter, SafetensorsStore,
};
use negclip_model::weights::{self, Naming};
use negclip_model::{Clip, ClipConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    HandOpenClip,
    HandHf,
    StoreBurn,
    StoreOpenClip,
}

const WAYS: [Way; 4] = [
    Way::HandOpenClip,
    Way::StoreBurn,
    Way::HandHf,
    Way::StoreOpenClip,
];

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::HandOpenClip => "hand/open_clip",
            Way::HandHf => "hand/hf",
            Way::StoreBurn => "store/burn",
            Way::StoreOpenClip => "store/open_clip",
        }
    }

    fn parse(s: &str) -> Option<Way> {
        WAYS.into_iter().find(|w| w.name() == s)
    }

    fn file(self, dir: &Path, preset: &str) -> PathBuf {
        dir.join(format!(
            "{preset}-{}.safetensors",
            self.name().replace('/', "-")
        ))
    }

    fn save(self, model: &Clip, config: &ClipConfig, path: &Path) -> Result<(), String> {
        match self {
            Way::HandOpenClip => weights::save(model, config, Naming::OpenClip, path),
            Way::HandHf => weights::save(model, config, Naming::HuggingFace, path),
            Way::StoreBurn | Way::StoreOpenClip => return store_save(self, model, config, path),
        }
        .map_err(|e| e.to_string())
    }

    fn load(self, path: &Path, device: &Device) -> Result<Clip, String> {
        match self {
            Way::HandOpenClip | Way::HandHf => weights::load(path, device)
                .map(|loaded| loaded.model)
                .map_err(|e| e.to_string()),
            Way::StoreBurn | Way::StoreOpenClip => store_load(self, path, device),
        }
    }
}

// ---------------------------------------------------------------- burn-store, open_clip names

/// Burn paths → open_clip names, applied in order to each name (every matching rule applies).
const SAVE_RENAMES: &[(&str, &str)] = &[
    (r"^text\.text_projection\.weight$", "text_projection"),
    (r"^visual\.proj\.weight$", "visual.proj"),
    (r"^text\.", ""),
    (r"^visual\.conv1$", "visual.conv1.weight"),
    (r"\.attn\.in_proj\.(weight|bias)$", ".attn.in_proj_${1}"),
];

/// open_clip names → Burn paths (LayerNorm `weight`/`bias` → `gamma`/`beta` is the adapter's).
const LOAD_RENAMES: &[(&str, &str)] = &[
    (r"^text_projection$", "text.text_projection.weight"),
    (r"^visual\.proj$", "visual.proj.weight"),
    (
        r"^(token_embedding\.|positional_embedding$|transformer\.|ln_final\.)",
        "text.${1}",
    ),
    (r"^visual\.conv1\.weight$", "visual.conv1"),
    (r"\.attn\.in_proj_(weight|bias)$", ".attn.in_proj.${1}"),
];

/// HuggingFace names → Burn paths, as far as renaming goes: q/k/v have no single target.
const HF_LOAD_RENAMES: &[(&str, &str)] = &[
    (
        r"^vision_model\.embeddings\.class_embedding$",
        "visual.class_embedding",
    ),
    (
        r"^vision_model\.embeddings\.position_embedding\.weight$",
        "visual.positional_embedding",
    ),
    (
        r"^vision_model\.embeddings\.patch_embedding\.weight$",
        "visual.conv1",
    ),
    (r"^vision_model\.pre_layrnorm\.", "visual.ln_pre."),
    (r"^vision_model\.post_layernorm\.", "visual.ln_post."),
    (
        r"^vision_model\.encoder\.layers\.",
        "visual.transformer.resblocks.",
    ),
    (
        r"^text_model\.encoder\.layers\.",
        "text.transformer.resblocks.",
    ),
    (
        r"^text_model\.embeddings\.token_embedding\.",
        "text.token_embedding.",
    ),
    (
        r"^text_model\.embeddings\.position_embedding\.weight$",
        "text.positional_embedding",
    ),
    (r"^text_model\.final_layer_norm\.", "text.ln_final."),
    (r"^visual_projection\.weight$", "visual.proj.weight"),
    (r"^text_projection\.weight$", "text.text_projection.weight"),
    (r"\.layer_norm1\.", ".ln_1."),
    (r"\.layer_norm2\.", ".ln_2."),
    (r"\.mlp\.fc1\.", ".mlp.c_fc."),
    (r"\.mlp\.fc2\.", ".mlp.c_proj."),
    (r"\.self_attn\.out_proj\.", ".attn.out_proj."),
];

fn remapper(rules: &[(&str, &str)]) -> KeyRemapper {
    KeyRemapper::from_pattern_iter(rules.iter().copied()).expect("the patterns are valid")
}

/// PyTorch layouts for open_clip (or HF) files: burn-store's PyTorch adapter (Linear weights
/// transposed, LayerNorm `gamma`/`beta` ↔ `weight`/`bias`), except where open_clip differs from
/// "every Linear is a PyTorch Linear": its two projections are stored `[in, out]` like Burn's
/// (left as they are unless `transpose_projections`, which HF's `[out, in]` Linears need), and
/// `logit_scale` is a scalar in the file and `[1]` in the model.
#[derive(Clone)]
struct PytorchLayout {
    to_burn: bool,
    transpose_projections: bool,
}

const PROJECTIONS: [&str; 2] = ["visual.proj.weight", "text.text_projection.weight"];

impl ModuleAdapter for PytorchLayout {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        if !self.transpose_projections && PROJECTIONS.contains(&tensor.name.as_str()) {
            return tensor;
        }
        if tensor.name == "logit_scale" {
            let shape = if self.to_burn {
                Shape::from(vec![1])
            } else {
                Shape::from(Vec::<usize>::new())
            };
            let (name, dtype) = (tensor.name.clone(), tensor.dtype);
            let target = shape.clone();
            return bridge::map_data(tensor, name, dtype, shape, move |data| {
                let (bytes, _, dtype) = data.into_parts();
                TensorData::from_bytes(bytes, target.clone(), dtype)
            });
        }
        if self.to_burn {
            PyTorchToBurnAdapter.adapt(tensor, ctx)
        } else {
            BurnToPyTorchAdapter.adapt(tensor, ctx)
        }
    }

    fn get_alternative_param_name(&self, param: &str, module_type: &str) -> Option<String> {
        if self.to_burn {
            PyTorchToBurnAdapter.get_alternative_param_name(param, module_type)
        } else {
            BurnToPyTorchAdapter.get_alternative_param_name(param, module_type)
        }
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

fn store_save(way: Way, model: &Clip, config: &ClipConfig, path: &Path) -> Result<(), String> {
    let config_json = serde_json::to_string(config).map_err(|e| e.to_string())?;
    let mut store = SafetensorsStore::from_file(path)
        .overwrite(true)
        .metadata("negclip_config", config_json);
    if way == Way::StoreOpenClip {
        store = store
            .metadata("format", "pt")
            .with_to_adapter(PytorchLayout {
                to_burn: false,
                transpose_projections: false,
            })
            .remap(remapper(SAVE_RENAMES));
    }
    model.save_into(&mut store).map_err(|e| e.to_string())
}

fn store_load(way: Way, path: &Path, device: &Device) -> Result<Clip, String> {
    // burn-store writes metadata but has no call to read it back: the header is read here.
    let config = header_config(path)?;
    let mut model = config.init(device);
    let mut store = SafetensorsStore::from_file(path);
    if way == Way::StoreOpenClip {
        store = store
            .with_from_adapter(PytorchLayout {
                to_burn: true,
                transpose_projections: false,
            })
            .remap(remapper(LOAD_RENAMES));
    }
    let result = model.load_from(&mut store).map_err(|e| e.to_string())?;
    // An unmatched tensor is not an error to burn-store; it is to negclip.
    if !result.unused.is_empty() {
        return Err(format!("unexpected tensors {:?}", result.unused));
    }
    Ok(model)
}

/// negclip's config from a safetensors header (`__metadata__.negclip_config`).
fn header_config(path: &Path) -> Result<ClipConfig, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| e.to_string())?;
    let mut header = vec![0u8; u64::from_le_bytes(len) as usize];
    file.read_exact(&mut header).map_err(|e| e.to_string())?;
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|e| e.to_string())?;
    let text = header["__metadata__"]["negclip_config"]
        .as_str()
        .ok_or("no negclip_config in the metadata")?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Loads an HF file with burn-store's renaming alone; returns (applied, missing, unused).
fn probe_hf(
    path: &Path,
    config: &ClipConfig,
    device: &Device,
) -> (usize, Vec<String>, Vec<String>) {
    let mut model = config.init(device);
    let mut store = SafetensorsStore::from_file(path)
        .allow_partial(true)
        .with_from_adapter(PytorchLayout {
            to_burn: true,
            transpose_projections: true,
        })
        .remap(remapper(HF_LOAD_RENAMES));
    let result = model
        .load_from(&mut store)
        .expect("partial loads are allowed");
    let missing = result.missing.into_iter().map(|(path, _)| path).collect();
    (result.applied.len(), missing, result.unused)
}

// ---------------------------------------------------------------- measuring

fn same(a: &Clip, b: &Clip) -> bool {
    weights::state_dict(a, Naming::OpenClip) == weights::state_dict(b, Naming::OpenClip)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn model(config: &ClipConfig, device: &Device) -> Clip {
    device.seed(7);
    let model = config.init(device);
    // Materialise every lazily initialised parameter, so no timing pays for initialisation.
    drop(model.collect(None, None, false));
    model
}

fn bench(preset: &str, pairs: usize, dir: &Path, device: &Device) {
    let config = ClipConfig::preset(preset).expect("known preset");
    let original = model(&config, device);
    println!(
        "\n== {preset}: {} parameters, {pairs} rounds, load average before {}",
        original.num_params(),
        loadavg()
    );

    // Correctness first: every way round-trips exactly, and the open_clip files of the two
    // implementations are interchangeable.
    for way in WAYS {
        let path = way.file(dir, preset);
        way.save(&original, &config, &path).unwrap();
        let back = way.load(&path, device).unwrap();
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "{:<16} {:>8.1} MB  round trip exact: {}",
            way.name(),
            size as f64 / 1e6,
            same(&original, &back)
        );
    }
    let cross = [
        (Way::StoreOpenClip, Way::HandOpenClip),
        (Way::HandOpenClip, Way::StoreOpenClip),
    ];
    for (writer, reader) in cross {
        let back = reader.load(&writer.file(dir, preset), device);
        println!(
            "{} file read by {}: {}",
            writer.name(),
            reader.name(),
            match back {
                Ok(m) => format!("exact: {}", same(&original, &m)),
                Err(e) => format!("error: {e}"),
            }
        );
    }
    let (applied, missing, unused) = probe_hf(&Way::HandHf.file(dir, preset), &config, device);
    println!(
        "hand/hf file read by burn-store renaming: {applied} applied, {} missing (e.g. {:?}), {} unused (e.g. {:?})",
        missing.len(),
        missing.first(),
        unused.len(),
        unused.first()
    );

    let mut times = vec![(Vec::new(), Vec::new()); WAYS.len()];
    // The in-memory part of the hand-written save: the model as an open_clip state dict
    // (PyTorch layouts, f32 copies), before any bytes are laid out or written.
    let mut state_dict_times = Vec::new();
    for _ in 0..pairs {
        let start = Instant::now();
        drop(weights::state_dict(&original, Naming::OpenClip));
        state_dict_times.push(start.elapsed().as_secs_f64());
        for (i, way) in WAYS.into_iter().enumerate() {
            let path = way.file(dir, preset);
            let start = Instant::now();
            way.save(&original, &config, &path).unwrap();
            times[i].0.push(start.elapsed().as_secs_f64());
            let start = Instant::now();
            let loaded = way.load(&path, device).unwrap();
            times[i].1.push(start.elapsed().as_secs_f64());
            drop(loaded);
        }
    }
    println!(
        "{:<16} {:>10} {:>10}   (seconds, median; all runs)",
        "", "save", "load"
    );
    for (way, (save, load)) in WAYS.into_iter().zip(&times) {
        println!(
            "{:<16} {:>10.4} {:>10.4}   save {:.4?} load {:.4?}",
            way.name(),
            median(save),
            median(load),
            save,
            load
        );
    }
    println!(
        "{:<16} {:>10.4}              of which hand/open_clip's state dict {:.4?}",
        "",
        median(&state_dict_times),
        state_dict_times
    );
    println!("load average after {}", loadavg());
}

fn main() {
    let mut presets = vec!["tiny".to_string(), "vit-b-32".to_string()];
    let mut pairs = 3;
    let mut dir = std::env::temp_dir().join("negclip-weights-io");
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--presets" | "--preset" => {
                presets = value().split(',').map(str::to_string).collect();
            }
            "--pairs" => pairs = value().parse().expect("--pairs takes a count"),
            "--dir" => dir = PathBuf::from(value()),
            "--only" => only = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    std::fs::create_dir_all(&dir).unwrap();
    let device = Device::flex();

    let Some(op) = only else {
        println!("files in {}", dir.display());
        for preset in &presets {
            bench(preset, pairs, &dir, &device);
        }
        return;
    };
    // One operation in this process, for its peak memory.
    let preset = &presets[0];
    let config = ClipConfig::preset(preset).expect("known preset");
    let start = Instant::now();
    match op.split_once(':') {
        None if op == "init" => drop(model(&config, &device)),
        Some(("save", way)) => {
            let way = Way::parse(way)
                .expect("a way: hand/open_clip, hand/hf, store/burn, store/open_clip");
            let original = model(&config, &device);
            let start = Instant::now();
            way.save(&original, &config, &way.file(&dir, preset))
                .unwrap();
            println!("{op}: {:.4} s", start.elapsed().as_secs_f64());
        }
        Some(("load", way)) => {
            let way = Way::parse(way)
                .expect("a way: hand/open_clip, hand/hf, store/burn, store/open_clip");
            drop(way.load(&way.file(&dir, preset), &device).unwrap());
        }
        _ => panic!("--only takes init, save:WAY or load:WAY"),
    }
    println!("{op}: {:.4} s in all", start.elapsed().as_secs_f64());
}
