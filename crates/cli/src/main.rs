use clap::{Parser, Subcommand};

mod cmd_bench_negatives;
mod cmd_negatives;

/// NegCLIP: fine-tune CLIP with hard negatives and evaluate it on ARO.
#[derive(Parser)]
#[command(name = "negclip", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a training table with hard-negative captions.
    Negatives(cmd_negatives::NegativesArgs),
    /// Speed measurements.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Captions per second of the negative rewriters.
    Negatives(cmd_bench_negatives::BenchNegativesArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Negatives(args) => cmd_negatives::run(args),
        Command::Bench { what } => match what {
            BenchCommand::Negatives(args) => cmd_bench_negatives::run(args),
        },
    }
}
