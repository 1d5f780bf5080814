//! The `negclip` command line.

mod cmd_synth;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "negclip",
    version,
    about = "Fine-tune CLIP with hard negatives (NegCLIP) and evaluate on ARO"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write synthetic scenes in the ARO file formats.
    Synth(cmd_synth::SynthArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Synth(args) => cmd_synth::run(args),
    }
}
