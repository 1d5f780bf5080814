//! `negclip tokenize "text" [--context-length N]`: prints CLIP token ids, to
//! check what the text tower will see for a caption.

use negclip_data::tokenizer::{ClipTokenizer, DEFAULT_CONTEXT_LENGTH};

#[derive(clap::Args, Debug)]
pub struct TokenizeArgs {
    /// Text to tokenize (quote it).
    pub text: String,
    /// Row length: SOT, ids, EOT, zero padding; longer texts are cut keeping EOT.
    #[arg(long, default_value_t = DEFAULT_CONTEXT_LENGTH)]
    pub context_length: usize,
    /// Print only the BPE ids (no SOT/EOT/padding) and their decoded pieces.
    #[arg(long)]
    pub raw: bool,
}

pub fn run(args: TokenizeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.context_length >= 2,
        "--context-length must be at least 2 (SOT and EOT)"
    );
    let tok = ClipTokenizer::new();
    if args.raw {
        for id in tok.encode(&args.text) {
            println!("{id}\t{:?}", tok.decode(&[id]));
        }
        return Ok(());
    }
    let row = tok.tokenize(&args.text, args.context_length);
    let ids: Vec<String> = row.iter().map(u32::to_string).collect();
    println!("{}", ids.join(" "));
    Ok(())
}
