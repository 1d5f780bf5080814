//! `negclip tagger`: train, evaluate, run and benchmark the part-of-speech tagger.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use negclip_data::tagger::augment::training_sentences;
use negclip_data::tagger::{read_conllu, Tagger};

#[derive(clap::Args)]
pub struct TaggerArgs {
    #[command(subcommand)]
    command: TaggerCommand,
}

#[derive(clap::Subcommand)]
enum TaggerCommand {
    /// Train a model on CoNLL-U files (UPOS column 4, Penn XPOS column 5).
    Train {
        /// Training file; repeat for several.
        #[arg(long = "train", required = true)]
        train: Vec<PathBuf>,
        #[arg(long, default_value_t = 10)]
        iterations: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also train on this many generated caption-style sentences
        /// (the shipped model uses 3000).
        #[arg(long, default_value_t = 0)]
        caption_augment: usize,
        /// Where to write the model (gzip binary).
        #[arg(long, alias = "out")]
        output: PathBuf,
    },
    /// Print UPOS and XPOS accuracy, overall and per tag.
    Eval {
        /// Model to evaluate; the shipped model when omitted.
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        test: PathBuf,
    },
    /// Tag a text and print word, UPOS and XPOS per line.
    Tag {
        text: String,
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Measure tagging speed (tokens/s, captions/s) on one core.
    Bench {
        #[arg(long)]
        model: Option<PathBuf>,
        /// Number of captions to tag.
        #[arg(long, default_value_t = 200_000)]
        captions: usize,
    },
}

pub fn run(args: TaggerArgs) -> anyhow::Result<()> {
    match args.command {
        TaggerCommand::Train {
            train,
            iterations,
            seed,
            caption_augment,
            output,
        } => {
            let sentences = training_sentences(&train, caption_augment, seed)?;
            let started = Instant::now();
            let tagger = Tagger::train(&sentences, iterations, seed);
            tagger.save(&output)?;
            println!(
                "trained on {} sentences ({iterations} iterations, seed {seed}) in {:.1} s; wrote {}",
                sentences.len(),
                started.elapsed().as_secs_f64(),
                output.display()
            );
        }
        TaggerCommand::Eval { model, test } => {
            let tagger = load(model.as_ref())?;
            let sentences = read_conllu(&test)?;
            print!("{}", tagger.evaluate(&sentences));
        }
        TaggerCommand::Tag { text, model } => {
            for word in load(model.as_ref())?.tag(&text) {
                println!("{}\t{}\t{}", word.word, word.upos, word.xpos);
            }
        }
        TaggerCommand::Bench { model, captions } => {
            let tagger = load(model.as_ref())?;
            let report = negclip_data::tagger::bench::run(&tagger, captions);
            println!("{report}");
        }
    }
    Ok(())
}

fn load(model: Option<&PathBuf>) -> anyhow::Result<std::borrow::Cow<'static, Tagger>> {
    Ok(match model {
        Some(path) => std::borrow::Cow::Owned(
            Tagger::load(path)
                .with_context(|| format!("loading tagger model {}", path.display()))?,
        ),
        None => std::borrow::Cow::Borrowed(Tagger::shipped()),
    })
}
