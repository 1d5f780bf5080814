//! Trains the part-of-speech tagger without building the CLI (and Burn):
//!
//! ```text
//! cargo run --release -p negclip-data --example train_tagger -- \
//!     --train en_ewt-ud-train.conllu [--train more.conllu ...] \
//!     [--iterations 10] [--seed 1] [--caption-augment 3000] --out crates/data/assets/tagger.bin.gz \
//!     [--eval en_ewt-ud-dev.conllu ...]
//! cargo run --release -p negclip-data --example train_tagger -- --model M --eval T.conllu
//! ```

use std::path::PathBuf;
use std::time::Instant;

use negclip_data::tagger::augment::training_sentences;
use negclip_data::tagger::{read_conllu, Tagger};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut train = Vec::new();
    let mut eval = Vec::new();
    let (mut iterations, mut seed, mut out, mut model) = (10usize, 1u64, None, None);
    let mut caption_augment = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--train" => train.push(PathBuf::from(value()?)),
            "--eval" => eval.push(PathBuf::from(value()?)),
            "--iterations" => iterations = value()?.parse()?,
            "--seed" => seed = value()?.parse()?,
            "--out" => out = Some(PathBuf::from(value()?)),
            "--caption-augment" => caption_augment = value()?.parse()?,
            "--model" => model = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if let Some(model) = &model {
        let tagger = Tagger::load(model)?;
        return evaluate(&tagger, &eval);
    }
    let sentences = training_sentences(&train, caption_augment, seed)?;
    let started = Instant::now();
    let tagger = Tagger::train(&sentences, iterations, seed);
    let (features, tagdict) = tagger.size();
    println!(
        "trained on {} sentences, {iterations} iterations, seed {seed} in {:.1} s: {features} features, {tagdict} tag-dictionary words",
        sentences.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(out) = &out {
        tagger.save(out)?;
        println!(
            "wrote {} ({} bytes)",
            out.display(),
            std::fs::metadata(out)?.len()
        );
    }
    // Evaluate the model as saved (quantised), which is what ships.
    let tagger = match &out {
        Some(path) => Tagger::load(path)?,
        None => tagger,
    };
    evaluate(&tagger, &eval)
}

fn evaluate(tagger: &Tagger, eval: &[PathBuf]) -> Result<(), Box<dyn std::error::Error>> {
    for path in eval {
        let evaluation = tagger.evaluate(&read_conllu(path)?);
        println!(
            "{}: UPOS {:.2} %  XPOS {:.2} %  both {:.2} %",
            path.display(),
            100.0 * evaluation.upos_accuracy(),
            100.0 * evaluation.xpos_accuracy(),
            100.0 * evaluation.joint_accuracy()
        );
    }
    Ok(())
}
