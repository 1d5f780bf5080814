//! The `negclip` command line: fine-tune CLIP with hard negatives (NegCLIP) and evaluate it
//! on ARO. One file per subcommand; this one only dispatches.

mod allocator;
mod cmd_bench;
mod cmd_bench_data;
mod cmd_bench_mine;
mod cmd_bench_negatives;
mod cmd_devices;
mod cmd_embed;
mod cmd_eval;
mod cmd_eval_interpolate;
mod cmd_eval_outputs;
mod cmd_export;
mod cmd_info;
mod cmd_interpolate;
mod cmd_negatives;
mod cmd_synth;
mod cmd_tagger;
mod cmd_tokenize;
mod cmd_train;

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
    /// Fine-tune from a TOML run file, or resume a run.
    Train(cmd_train::TrainArgs),
    /// Score checkpoints on benchmark suites, side by side.
    Eval(cmd_eval::EvalArgs),
    /// Normalised image and text embeddings of a checkpoint.
    Embed(cmd_embed::EmbedArgs),
    /// Show a checkpoint's format, configuration and parameter count.
    Info(cmd_info::InfoArgs),
    /// Export a checkpoint for HuggingFace transformers or open_clip.
    Export(cmd_export::ExportArgs),
    /// Mix a zero-shot checkpoint and its fine-tune: (1 − α)·base + α·fine-tune (WiSE-FT).
    Interpolate(cmd_interpolate::InterpolateArgs),
    /// Write synthetic scenes in the ARO file formats.
    Synth(cmd_synth::SynthArgs),
    /// Write a training table with hard-negative captions.
    Negatives(cmd_negatives::NegativesArgs),
    /// Part-of-speech tagger: train, eval, tag, bench.
    Tagger(cmd_tagger::TaggerArgs),
    /// Print the CLIP token ids of a text.
    Tokenize(cmd_tokenize::TokenizeArgs),
    /// List the devices this build can run on (`--device` names).
    Devices(cmd_devices::DevicesArgs),
    /// Benchmarks that print throughput (`negclip bench forward`, …).
    Bench(cmd_bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    allocator::keep_freed_memory();
    exit_quietly_when_stdout_closes();
    // wgpu probes OpenGL beside Vulkan and logs an error where there is no GL driver (a
    // server, CI); compute never uses GL.
    let default_filter = "warn,wgpu_hal::gles=off";
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEGCLIP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Train(args) => cmd_train::run(args),
        Command::Eval(args) => cmd_eval::run(args),
        Command::Embed(args) => cmd_embed::run(args),
        Command::Info(args) => cmd_info::run(args),
        Command::Export(args) => cmd_export::run(args),
        Command::Interpolate(args) => cmd_interpolate::run(args),
        Command::Synth(args) => cmd_synth::run(args),
        Command::Negatives(args) => cmd_negatives::run(args),
        Command::Tagger(args) => cmd_tagger::run(args),
        Command::Devices(args) => cmd_devices::run(args),
        Command::Tokenize(args) => cmd_tokenize::run(args),
        Command::Bench(args) => cmd_bench::run(args),
    };
    match result {
        Err(error) if is_closed_pipe(&error) => Ok(()),
        other => other,
    }
}

/// `negclip … | head`: a reader that closes standard output early ends the command quietly
/// with success, as Unix tools do. Rust ignores SIGPIPE, so printing to a closed pipe panics
/// in `println!` ("failed printing to stdout: Broken pipe") or returns a `BrokenPipe` error
/// where the output is written with `?`; this handles the first, [`is_closed_pipe`] the second.
fn exit_quietly_when_stdout_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
