use clap::{Parser, Subcommand};

mod cmd_tokenize;

/// NegCLIP: fine-tune CLIP with hard negatives and evaluate compositionality.
#[derive(Parser)]
#[command(name = "negclip", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CLIP token ids of a text.
    Tokenize(cmd_tokenize::TokenizeArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Tokenize(args) => cmd_tokenize::run(args),
    }
}
