//! Import → export → import gives back exactly the same weights and configuration, in both
//! namings, as a directory or a single file; broken checkpoints fail naming the tensor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use negclip_model::weights::{self, CheckpointFormat, ConfigSource, Naming};
use negclip_model::ClipConfig;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/model")
        .join(path)
}

/// A fresh scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("negclip-model-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn export_then_import_is_exact_in_both_namings() {
    let device = Device::flex();
    for source in ["hf_quickgelu", "open_clip_gelu/epoch_1.pt"] {
        let original = weights::load(&fixture(source), &device).unwrap();
        let tensors = weights::state_dict(&original.model, Naming::OpenClip);
        for (naming, format, config_file) in [
            (
                Naming::HuggingFace,
                CheckpointFormat::HuggingFace,
                "config.json",
            ),
            (
                Naming::OpenClip,
                CheckpointFormat::OpenClip,
                "open_clip_config.json",
            ),
        ] {
            let scratch = Scratch::new(&format!("export-{naming:?}"));
            let dir = scratch.0.join("out");
            weights::export(&original.model, &original.config, naming, &dir).unwrap();
            assert!(dir.join(config_file).is_file());
            let again = weights::load(&dir, &device).unwrap();
            assert_eq!(again.format, format, "{source} as {naming:?}");
            assert_eq!(again.config, original.config, "{source} as {naming:?}");
            assert_eq!(
                weights::state_dict(&again.model, Naming::OpenClip),
                tensors,
                "{source} as {naming:?}"
            );
        }
    }
}

#[test]
fn a_single_saved_file_carries_its_config() {
    let device = Device::flex();
    let original = weights::load(&fixture("open_clip_gelu/epoch_1.pt"), &device).unwrap();
    let scratch = Scratch::new("single");
    for naming in [Naming::HuggingFace, Naming::OpenClip] {
        let path = scratch.0.join(format!("{naming:?}.safetensors"));
        weights::save(&original.model, &original.config, naming, &path).unwrap();
        let again = weights::load(&path, &device).unwrap();
        assert_eq!(again.config_source, ConfigSource::Metadata);
        // GELU and 2 heads of 16 channels: nothing inference could guess.
        assert_eq!(again.config, original.config);
        assert_eq!(
            weights::state_dict(&again.model, naming),
            weights::state_dict(&original.model, naming)
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn saving_into_a_directory_exports() {
    let device = Device::flex();
    let config = ClipConfig::preset("tiny").unwrap();
    device.seed(5);
    let model = config.init(&device);
    let scratch = Scratch::new("save-dir");
    weights::save(&model, &config, Naming::HuggingFace, &scratch.0).unwrap();
    assert!(scratch.0.join("model.safetensors").is_file());
    assert!(scratch.0.join("config.json").is_file());
    let again = weights::load(&scratch.0, &device).unwrap();
    assert!(matches!(again.config_source, ConfigSource::HfConfigJson(_)));
    assert_eq!(again.config, config);
}

/// Rewrites a safetensors file, changing its tensors with `edit`.
fn rewrite(from: &Path, to: &Path, edit: impl Fn(&mut HashMap<String, (Vec<usize>, Vec<u8>)>)) {
    let bytes = std::fs::read(from).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: HashMap<String, (Vec<usize>, Vec<u8>)> = file
        .iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32);
            (
                name.to_string(),
                (view.shape().to_vec(), view.data().to_vec()),
            )
        })
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, (shape, data))| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    std::fs::write(to, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn broken_checkpoints_name_the_tensor() {
    let device = Device::flex();
    let source = fixture("open_clip_gelu/open_clip_model.safetensors");
    let scratch = Scratch::new("broken");
    std::fs::copy(
        fixture("open_clip_gelu/open_clip_config.json"),
        scratch.0.join("open_clip_config.json"),
    )
    .unwrap();
    let path = scratch.0.join("model.safetensors");

    rewrite(&source, &path, |t| {
        t.remove("transformer.resblocks.2.mlp.c_proj.bias");
    });
    let err = weights::load(&path, &device).unwrap_err().to_string();
    assert!(
        err.contains("transformer.resblocks.2.mlp.c_proj.bias") && err.contains("[32]"),
        "{err}"
    );

    rewrite(&source, &path, |t| {
        t.insert("visual.proj".into(), (vec![24, 32], vec![0; 24 * 32 * 4]));
    });
    let err = weights::load(&path, &device).unwrap_err().to_string();
    assert!(
        err.contains("visual.proj") && err.contains("[24, 32]") && err.contains("[32, 24]"),
        "{err}"
    );

    rewrite(&source, &path, |t| {
        t.insert(
            "visual.transformer.resblocks.7.ln_1.weight".into(),
            (vec![32], vec![0; 128]),
        );
    });
    let err = weights::load(&path, &device).unwrap_err().to_string();
    assert!(
        err.contains("visual.transformer.resblocks.7.ln_1.weight"),
        "{err}"
    );

    rewrite(&source, &path, |t| {
        t.clear();
        t.insert("encoder.weight".into(), (vec![1], vec![0; 4]));
    });
    let err = weights::load(&path, &device).unwrap_err().to_string();
    assert!(
        err.contains("cannot tell the checkpoint format") && err.contains("encoder.weight"),
        "{err}"
    );
}

#[test]
fn hf_checkpoint_without_config_is_inferred() {
    // A HuggingFace file on its own: shapes come from the tensors, heads as width / 64.
    let device = Device::flex();
    let scratch = Scratch::new("inferred");
    let path = scratch.0.join("weights.safetensors");
    rewrite(&fixture("hf_quickgelu/model.safetensors"), &path, |_| {});
    let loaded = weights::load(&path, &device).unwrap();
    assert_eq!(loaded.config_source, ConfigSource::Inferred);
    assert_eq!(loaded.format, CheckpointFormat::HuggingFace);
    let (v, t) = (&loaded.config.vision, &loaded.config.text);
    assert_eq!(
        (v.image_size, v.patch_size, v.width, v.layers, v.mlp_dim),
        (32, 8, 32, 2, 128)
    );
    assert_eq!(
        (t.context_length, t.vocab_size, t.width, t.layers, t.mlp_dim),
        (12, 256, 24, 2, 96)
    );
    assert_eq!(loaded.config.embed_dim, 16);
}
