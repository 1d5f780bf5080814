use clap::{Parser, Subcommand};

mod cmd_tagger;

/// negclip: fine-tune CLIP with hard negatives and evaluate on ARO.
#[derive(Parser)]
#[command(name = "negclip", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Part-of-speech tagger: train, eval, tag, bench.
    Tagger(cmd_tagger::TaggerArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Tagger(args) => cmd_tagger::run(args),
    }
}
