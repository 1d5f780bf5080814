//! `negclip`: fine-tune CLIP with hard negatives (NegCLIP) and evaluate it on ARO.

use clap::{Parser, Subcommand};

mod cmd_bench;
mod cmd_export;
mod cmd_info;

#[derive(Parser, Debug)]
#[command(name = "negclip", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show a checkpoint's format, configuration and parameter count.
    Info(cmd_info::InfoArgs),
    /// Export a checkpoint for HuggingFace transformers or open_clip.
    Export(cmd_export::ExportArgs),
    /// Micro-benchmarks (`negclip bench forward`).
    Bench(cmd_bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Info(args) => cmd_info::run(args),
        Command::Export(args) => cmd_export::run(args),
        Command::Bench(args) => cmd_bench::run(args),
    }
}
