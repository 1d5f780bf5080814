//! What `[log] tensorboard` costs a run: the time to log N training records to
//! `metrics.jsonl` alone, and with TensorBoard events beside it, in a temporary folder.
//!
//!     cargo run --release -p negclip-train --example tensorboard_cost [N] [ROUNDS]
//!
//! Prints microseconds per record for each, alternating, ROUNDS times (default 10 000
//! records, 3 rounds).

use std::time::Instant;

use negclip_train::log::MetricsLog;
use negclip_train::step::StepStats;
use negclip_train::tensorboard::EventLog;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let records: u64 = args.next().map_or(Ok(10_000), |n| n.parse())?;
    let rounds: usize = args.next().map_or(Ok(3), |n| n.parse())?;
    // A default-job step's numbers: the values do not change the cost.
    let stats = StepStats {
        loss: 1.5,
        image_to_text: 1.6,
        text_to_image: 1.4,
        grad_norm: Some(2.0),
        logit_scale: 30.0,
        images: 96,
        negatives: 32,
        loss_scale: None,
        skipped: false,
    };
    for round in 1..=rounds {
        for tensorboard in [false, true] {
            let dir = tempfile::tempdir()?;
            let events = EventLog::open(dir.path(), tensorboard, None)?;
            let log = MetricsLog::create(dir.path())?.with_events(events);
            let started = Instant::now();
            for step in 1..=records {
                log.train(step, 0, 1e-3, 300.0, &stats)?;
            }
            log.sync()?;
            let per_record = started.elapsed().as_secs_f64() / records as f64;
            println!(
                "round {round}, tensorboard = {tensorboard:5}: {records} records, {:.1} µs a record",
                per_record * 1e6
            );
        }
    }
    Ok(())
}
