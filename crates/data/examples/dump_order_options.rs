//! Writes the options of the order suites (`coco-order@seed1..5`, `flickr30k-order@seed1..5`)
//! of a data root as JSON: `{suite: [[original, p1, p2, p3, p4] per caption]}`.
//!
//! The order perturbations are negclip's own (the shipped POS tagger and a seeded ChaCha8
//! stream), so the Python reference check (`scripts/aro_reference.py clip-scores`) reads
//! them from this file to score exactly the captions negclip scores. Regenerate with
//!
//! ```sh
//! cargo run -p negclip-data --example dump_order_options -- \
//!     tests/fixtures/aro tests/fixtures/aro/order_options.json
//! ```

use negclip_data::benchmarks::{load_suite, DataPaths, LoadOptions};
use negclip_data::suite::Suite;
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, out] = args.as_slice() else {
        return Err("usage: dump_order_options DATA_ROOT OUT.json".into());
    };
    // The default perturber: the one the evaluation uses.
    let options = LoadOptions::default();
    let mut dump: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for name in ["coco-order", "flickr30k-order"] {
        for loaded in load_suite(name, &DataPaths::root(root), &options)? {
            let Suite::Choice(suite) = loaded.suite else {
                return Err(format!("{name} is not a choice suite").into());
            };
            let items = suite.items.into_iter().map(|item| item.options).collect();
            dump.insert(suite.name, items);
        }
    }
    std::fs::write(out, serde_json::to_string_pretty(&dump)? + "\n")?;
    println!("wrote {out} ({} suites)", dump.len());
    Ok(())
}
