//! Reading a run file: TOML parsed, `--set` overrides applied to the document, serde's
//! errors pointed at the offending key's line, and the checks the types cannot express.

use super::*;

impl RunConfig {
    /// Read a run file and apply `key=value` overrides (dotted keys, TOML values).
    pub fn load(path: &Path, overrides: &[String]) -> Result<RunConfig, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, overrides)
    }

    /// Parse a run file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path, overrides: &[String]) -> Result<RunConfig, TrainError> {
        let config_error = |message: String| TrainError::Config {
            path: origin.to_path_buf(),
            message,
        };
        let mut doc: toml::Table = toml::from_str(text).map_err(|e| config_error(e.to_string()))?;
        moved_keys(&doc).map_err(config_error)?;
        // Checked once as written, so that errors carry the file's own line numbers.
        let mut config: RunConfig =
            toml::from_str(text).map_err(|e| config_error(at_key_line(text, &e)))?;
        if !overrides.is_empty() {
            for item in overrides {
                apply_override(&mut doc, item).map_err(config_error)?;
            }
            moved_keys(&doc).map_err(|e| config_error(format!("after --set: {e}")))?;
            config = RunConfig::deserialize(toml::Value::Table(doc))
                .map_err(|e| config_error(format!("after --set: {e}")))?;
        }
        config.validate().map_err(config_error)?;
        Ok(config)
    }

    /// Checks that the types cannot express: values in range and the one key that needs
    /// another section (stored hard captions need a source that stores them).
    fn validate(&self) -> Result<(), String> {
        if self.model.preset.is_none() == self.model.checkpoint.is_none() {
            return Err("[model] needs exactly one of `preset` and `checkpoint`".into());
        }
        if self.optim.batch_size < 2 {
            return Err("optim.batch_size must be at least 2 for a contrastive loss".into());
        }
        if self.optim.accum_steps.get() > self.optim.batch_size {
            return Err(format!(
                "optim.accum_steps = {} is more micro-batches than optim.batch_size = {} has samples",
                self.optim.accum_steps, self.optim.batch_size
            ));
        }
        if self.optim.lr.is_nan() || self.optim.lr <= 0.0 {
            return Err("optim.lr must be positive".into());
        }
        crate::freeze::Freeze::from_optim(&self.optim)?;
        let [lo, hi] = self.augment.scale;
        if !(0.0 < lo && lo <= hi && hi <= 1.0) {
            return Err(format!(
                "augment.scale = [{lo}, {hi}] must satisfy 0 < lo <= hi <= 1"
            ));
        }
        if matches!(self.negatives, NegativesSection::Table(_)) && !self.data.stores_negatives() {
            return Err(
                "negatives.source = \"table\" draws the hard captions stored in a training table: it needs data.source = \"table\" (or use source = \"rewrite\")".into(),
            );
        }
        if let NegativesSection::Rewrite(rewrite) = &self.negatives {
            if rewrite.draw == Draw::ByKind && rewrite.per_caption.get() > rewrite.kinds.len() {
                return Err(format!(
                    "negatives.per_caption = {} with draw = \"by-kind\" asks for more hard captions than the {} kinds give (one each)",
                    rewrite.per_caption,
                    rewrite.kinds.len()
                ));
            }
        }
        DataPaths::new(None, self.eval.paths.clone()).map_err(|e| format!("eval.paths: {e}"))?;
        Ok(())
    }
}

/// The error's text, pointing at the offending key's own line where toml points at its
/// section: serde reads a tagged section (`[data]`, `[negatives]`) whole before it knows the
/// variant, so toml can only report the section's header. The key (or quoted value) is the
/// first `name` in backticks of the message, looked up among the section's lines.
fn at_key_line(text: &str, error: &toml::de::Error) -> String {
    let located = || {
        let name = error.message().split('`').nth(1)?;
        let start = error.span()?.start;
        let first = text[..start].matches('\n').count();
        let lines: Vec<&str> = text.lines().collect();
        if !lines.get(first)?.trim_start().starts_with('[') {
            return None; // toml already points into the section
        }
        let section = lines[first + 1..]
            .iter()
            .take_while(|line| !line.trim_start().starts_with('['));
        let (offset, line) = section.enumerate().find(|(_, line)| {
            let line = line.trim_start();
            let key = line.split(['=', ' ']).next() == Some(name);
            key || line.contains(&format!("\"{name}\""))
        })?;
        let number = first + 2 + offset;
        let gutter = " ".repeat(number.to_string().len());
        Some(format!(
            "TOML parse error at line {number}\n{gutter} |\n{number} | {line}\n{gutter} |\n{}",
            error.message().trim_end()
        ))
    };
    located().unwrap_or_else(|| error.to_string())
}

/// Keys that earlier versions read and that now live elsewhere: an error that says where,
/// rather than "unknown field".
fn moved_keys(doc: &toml::Table) -> Result<(), String> {
    if doc.contains_key("hard_images") {
        return Err("[hard_images] is now part of [data]: write `hard_images = { partners = 3 }`, `\"twins\"` or `{ nearest = 3 }` under [data] for the synthetic world, `\"table\"` or `{ nearest = 3 }` for a table (docs/config.md)".into());
    }
    let data = doc.get("data").and_then(toml::Value::as_table);
    if data.is_some_and(|d| d.contains_key("workers")) {
        return Err(
            "data.workers is now loader.prefetch (batches built ahead; docs/config.md)".into(),
        );
    }
    Ok(())
}

/// Apply one `a.b.c=value` override; the value is TOML (`3`, `1e-5`, `"x"`, `[1, 2]`), and a
/// bare word that is not valid TOML is taken as a string.
fn apply_override(doc: &mut toml::Table, item: &str) -> Result<(), String> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| format!("--set {item:?}: expected key=value"))?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, parents) = parts.split_last().expect("split yields one part at least");
    let mut table = doc;
    for part in parents {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("--set {key}: `{part}` is not a table"))?;
    }
    table.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use negclip_data::training::{SyntheticHardImages, TableHardImages};

    const MINIMAL: &str = r#"
seed = 7
[model]
preset = "tiny"
[data]
source = "synthetic"
[optim]
lr = 1e-4
batch_size = 8
epochs = 1
"#;

    fn parse(text: &str, overrides: &[&str]) -> Result<RunConfig, String> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        RunConfig::parse(text, Path::new("run.toml"), &overrides).map_err(|e| e.to_string())
    }

    fn synthetic(config: &RunConfig) -> &negclip_data::training::SyntheticConfig {
        match &config.data {
            SourceConfig::Synthetic(s) => s,
            SourceConfig::Table(_) => panic!("synthetic data expected"),
        }
    }

    #[test]
    fn best_metric_is_a_suite_or_a_suite_and_metric_split_at_the_colon() {
        let best = |value: &str| {
            let text = format!("{MINIMAL}[eval]\nbest_metric = \"{value}\"\n");
            parse(&text, &[]).map(|c| c.eval.best_metric.unwrap())
        };
        let relation = best("Synth-Relation").unwrap();
        assert_eq!(
            (relation.suite.as_str(), relation.metric),
            ("Synth-Relation", None)
        );
        let recall = best("coco-retrieval:image_to_text/1").unwrap();
        assert_eq!(recall.suite, "coco-retrieval");
        assert_eq!(recall.metric.as_deref(), Some("image_to_text/1"));
        let subset = best("sugarcrepe/add_att").unwrap();
        assert_eq!(
            (subset.suite.as_str(), subset.metric),
            ("sugarcrepe/add_att", None)
        );
        assert_eq!(recall.to_string(), "coco-retrieval:image_to_text/1");
        let error = best("Synth-Relation:").unwrap_err();
        assert!(error.contains("suite:metric"), "{error}");
    }

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let config = parse(MINIMAL, &[]).unwrap();
        assert_eq!(config.seed, 7);
        assert_eq!(config.optim.betas, [0.9, 0.98]);
        assert_eq!(config.optim.weight_decay, 0.2);
        assert_eq!(config.augment.scale, [0.9, 1.0]);
        assert_eq!(config.loss.kind, LossKind::Negclip);
        assert_eq!(config.negatives, NegativesSection::default());
        assert_eq!(synthetic(&config).samples_per_epoch, 8192);
        assert_eq!(synthetic(&config).hard_images, SyntheticHardImages::None);
        assert_eq!(config.loader.prefetch.get(), 2);
        assert_eq!(config.loader.workers, 0);
    }

    #[test]
    fn loader_workers_are_checked_and_named() {
        let config = parse(MINIMAL, &["loader.workers=6"]).unwrap();
        assert_eq!(config.loader.workers, 6);
        for bad in ["-1", "1025"] {
            let err = parse(MINIMAL, &[&format!("loader.workers={bad}")]).unwrap_err();
            assert!(err.contains("loader.workers") && err.contains(bad), "{err}");
        }
        let err = parse(&format!("{MINIMAL}[loader]\nworkers = -2\n"), &[]).unwrap_err();
        assert!(err.contains("loader.workers = -2"), "{err}");
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = MINIMAL.replace("epochs = 1", "epochs = 1\nlearning_rate = 3");
        let err = parse(&text, &[]).unwrap_err();
        assert!(err.contains("learning_rate"), "{err}");
        assert!(err.contains("line 11"), "{err}");
        assert!(err.contains("run.toml"), "{err}");
    }

    #[test]
    fn wrong_type_is_named_with_its_line() {
        let text = MINIMAL.replace("batch_size = 8", "batch_size = \"eight\"");
        let err = parse(&text, &[]).unwrap_err();
        assert!(err.contains("batch_size"), "{err}");
        assert!(err.contains("line 9"), "{err}");
    }

    #[test]
    fn overrides_change_single_keys() {
        let config = parse(
            MINIMAL,
            &[
                "optim.lr=3e-5",
                "loss.kind=clip",
                "output_dir=runs/x",
                "data.hard_images.partners=3",
            ],
        )
        .unwrap();
        assert_eq!(config.optim.lr, 3e-5);
        assert_eq!(config.loss.kind, LossKind::Clip);
        assert_eq!(config.output_dir, PathBuf::from("runs/x"));
        let three = NonZeroUsize::new(3).unwrap();
        assert_eq!(
            synthetic(&config).hard_images,
            SyntheticHardImages::Partners(three)
        );
    }

    #[test]
    fn override_with_wrong_type_names_the_key() {
        let err = parse(MINIMAL, &["optim.epochs=many"]).unwrap_err();
        assert!(err.contains("epochs"), "{err}");
    }

    #[test]
    fn micro_batches_and_data_paths_are_checked() {
        let config = parse(MINIMAL, &["optim.accum_steps=2"]).unwrap();
        assert_eq!(config.optim.accum_steps.get(), 2);
        let err = parse(MINIMAL, &["optim.accum_steps=100000"]).unwrap_err();
        assert!(err.contains("accum_steps"), "{err}");
        let err = parse(MINIMAL, &["eval.paths.coco=\"x.json\""]).unwrap_err();
        assert!(
            err.contains("eval.paths") && err.contains("coco-test"),
            "{err}"
        );
    }

    #[test]
    fn precision_is_fp32_unless_asked() {
        assert_eq!(
            parse(MINIMAL, &[]).unwrap().optim.precision,
            Precision::Fp32
        );
        let config = parse(MINIMAL, &["optim.precision=\"bf16\""]).unwrap();
        assert_eq!(config.optim.precision, Precision::Bf16);
        let err = parse(MINIMAL, &["optim.precision=\"fp8\""]).unwrap_err();
        assert!(err.contains("precision") && err.contains("f16"), "{err}");
    }

    #[test]
    fn model_needs_one_preset_or_checkpoint() {
        let err = parse(&MINIMAL.replace("preset = \"tiny\"", ""), &[]).unwrap_err();
        assert!(err.contains("[model]"), "{err}");
        let err = parse(MINIMAL, &["model.checkpoint=m.safetensors"]).unwrap_err();
        assert!(err.contains("[model]"), "{err}");
    }

    /// `MINIMAL` training from a table instead of the synthetic world.
    fn table_run() -> String {
        MINIMAL.replace(
            "source = \"synthetic\"",
            "source = \"table\"\ntable = \"t.tsv\"",
        )
    }

    #[test]
    fn each_data_source_accepts_only_its_own_keys() {
        let err = parse(
            &table_run().replace("t.tsv\"", "t.tsv\"\nrelation_captions_only = true"),
            &[],
        )
        .unwrap_err();
        assert!(
            err.contains("relation_captions_only") && err.contains("line 8"),
            "{err}"
        );
        let err = parse(
            &MINIMAL.replace("synthetic\"", "synthetic\"\ntable = \"t.tsv\""),
            &[],
        )
        .unwrap_err();
        assert!(err.contains("`table`") && err.contains("line 7"), "{err}");
        let err = parse(&MINIMAL.replace("\"synthetic\"", "\"folder\""), &[]).unwrap_err();
        assert!(
            err.contains("folder") && err.contains("synthetic") && err.contains("table"),
            "{err}"
        );
        let err = parse(&table_run().replace("source = \"table\"\n", ""), &[]).unwrap_err();
        assert!(err.contains("source"), "{err}");
    }

    #[test]
    fn hard_images_are_options_of_the_source() {
        let twins = parse(MINIMAL, &["data.hard_images=twins"]).unwrap();
        assert_eq!(synthetic(&twins).hard_images, SyntheticHardImages::Twins);
        let stored = parse(&table_run(), &["data.hard_images=table"]).unwrap();
        let SourceConfig::Table(table) = &stored.data else {
            panic!()
        };
        assert_eq!(table.hard_images, TableHardImages::Table);
        for bad in ["data.hard_images=partner", "data.hard_images=table"] {
            let err = parse(MINIMAL, &[bad]).unwrap_err();
            assert!(
                err.contains("hard_images") || err.contains("variant"),
                "{err}"
            );
        }
        let err = parse(&table_run(), &["data.hard_images.partners=3"]).unwrap_err();
        assert!(err.contains("partners"), "{err}");
        let err = parse(MINIMAL, &["data.hard_images.nearest=0"]).unwrap_err();
        assert!(err.contains("nonzero"), "{err}");
    }

    #[test]
    fn negatives_are_tagged_and_their_kinds_parsed() {
        let text = format!("{MINIMAL}[negatives]\nsource = \"rewrite\"\nkinds = [\"swap-relation\", \"swap-colour\"]\n");
        let err = parse(&text, &[]).unwrap_err();
        assert!(
            err.contains("swap-colour") && err.contains("line 13"),
            "{err}"
        );
        let zero = ["negatives.source=rewrite", "negatives.per_caption=0"];
        let err = parse(MINIMAL, &zero).unwrap_err();
        assert!(
            err.contains("per_caption") || err.contains("nonzero"),
            "{err}"
        );
        let stored = ["negatives.source=table"];
        let config = parse(&table_run(), &stored).unwrap();
        assert!(matches!(config.negatives, NegativesSection::Table(_)));
        let err = parse(MINIMAL, &stored).unwrap_err();
        assert!(err.contains("data.source = \"table\""), "{err}");
        let err = parse(
            &table_run(),
            &["negatives.source=table", "negatives.kinds=[]"],
        )
        .unwrap_err();
        assert!(err.contains("kinds"), "{err}");
        let by_kind = ["negatives.source=rewrite", "negatives.draw=by-kind"];
        let config = parse(MINIMAL, &by_kind).unwrap();
        let NegativesSection::Rewrite(rewrite) = config.negatives else {
            panic!("rewrite negatives expected");
        };
        assert_eq!(rewrite.draw, Draw::ByKind);
        let too_many = [by_kind[0], by_kind[1], "negatives.per_caption=4"];
        let err = parse(MINIMAL, &too_many).unwrap_err();
        assert!(
            err.contains("per_caption = 4") && err.contains("3 kinds"),
            "{err}"
        );
    }

    #[test]
    fn moved_keys_say_where_they_went() {
        let err = parse(&format!("{MINIMAL}[hard_images]\nenabled = true\n"), &[]).unwrap_err();
        assert!(err.contains("[data]") && err.contains("partners"), "{err}");
        let err = parse(MINIMAL, &["data.workers=4"]).unwrap_err();
        assert!(err.contains("loader.prefetch"), "{err}");
    }

    #[test]
    fn shipped_configs_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            RunConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}
