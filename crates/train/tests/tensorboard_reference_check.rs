//! The TensorBoard reference check: a short real run's `metrics.jsonl`, the events file
//! negclip wrote beside it, and what TensorBoard's own reader (`EventAccumulator`, run by
//! `scripts/tensorboard_reference.py`) read from that file, all in
//! `tests/fixtures/tensorboard/`.
//!
//! Checked: negclip's writer, given the fixture's records, writes the fixture's events again
//! event for event (wall times aside), so what TensorBoard read is what negclip writes now;
//! every scalar TensorBoard read is a value of `metrics.jsonl` at its step, rounded to f32,
//! each step of a tag once, and every value of `metrics.jsonl` is among them; the plots are
//! the images TensorBoard read, of the sizes it read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use negclip_train::log::Record;
use negclip_train::tensorboard::event::{Event, Kind, What};
use negclip_train::tensorboard::{read_events, scalars, EventLog};
use serde::Deserialize;

mod common;
use common::{read_json, repo};

fn fixture(name: &str) -> PathBuf {
    repo("tests/fixtures/tensorboard").join(name)
}

fn records() -> Vec<Record> {
    let path = fixture("metrics.jsonl");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// `reader.json`: what `EventAccumulator` read.
#[derive(Deserialize)]
struct ReaderDump {
    reader: String,
    images: Vec<ReadImage>,
    /// Tag → (step, value) in the order read; `null` for a value that is not finite.
    scalars: BTreeMap<String, Vec<(i64, Option<f64>)>>,
}

#[derive(Debug, PartialEq, Deserialize)]
struct ReadImage {
    tag: String,
    step: i64,
    width: i32,
    height: i32,
}

fn reader_dump() -> ReaderDump {
    serde_json::from_value(read_json(&fixture("reader.json"))).unwrap()
}

/// Events with their wall times cleared: the one thing that differs between two writings.
fn without_wall_times(events: Vec<Event>) -> Vec<Event> {
    events
        .into_iter()
        .map(|event| Event {
            wall_time: 0.0,
            ..event
        })
        .collect()
}

fn image_of(event: &Event) -> Option<(&str, &negclip_train::tensorboard::event::Image)> {
    let Some(What::Summary(summary)) = &event.what else {
        return None;
    };
    match summary.value.as_slice() {
        [value] => match &value.kind {
            Some(Kind::Image(image)) => Some((value.tag.as_str(), image)),
            _ => None,
        },
        _ => None,
    }
}

#[test]
fn negclip_writes_the_fixture_events_again_event_for_event() {
    let fixture_file = read_events(&fixture("events.out.tfevents.fixture")).unwrap();
    assert!(fixture_file.stopped.is_none(), "{:?}", fixture_file.stopped);
    let fixture_events = without_wall_times(fixture_file.events);

    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::create(dir.path()).unwrap();
    let records = records();
    for record in &records {
        log.record(record).unwrap();
    }
    let ours = without_wall_times(read_events(log.path()).unwrap().events);

    // The fixture's run added its plots after the last record; they are PNG files of the
    // run, not part of metrics.jsonl.
    let (scalar_part, plots) = fixture_events.split_at(ours.len());
    assert_eq!(ours, scalar_part, "the events of the records differ");
    assert_eq!(
        ours.len(),
        records.len() + 1,
        "the file version, then one per record"
    );

    let dump = reader_dump();
    let plots: Vec<ReadImage> = plots
        .iter()
        .map(|event| {
            let (tag, image) = image_of(event).expect("only plots after the records");
            let png = image::load_from_memory(&image.encoded_image_string).unwrap();
            assert_eq!(
                (png.width() as i32, png.height() as i32),
                (image.width, image.height),
                "{tag}: the PNG's size"
            );
            ReadImage {
                tag: tag.to_string(),
                step: event.step,
                width: image.width,
                height: image.height,
            }
        })
        .collect();
    assert_eq!(plots, dump.images);
    assert!(plots.iter().any(|plot| plot.tag == "plots/metrics"));
}

#[test]
fn tensorboards_reader_read_every_value_of_metrics_jsonl_at_f32() {
    let dump = reader_dump();
    assert!(dump.reader.ends_with("EventAccumulator"), "{}", dump.reader);

    // What metrics.jsonl holds, by negclip's naming: tag and step → value.
    let mut expected = BTreeMap::new();
    for record in records() {
        for (tag, value) in scalars(&record) {
            let step = record.step() as i64;
            assert!(
                expected.insert((tag.clone(), step), value).is_none(),
                "{tag} twice at step {step}"
            );
        }
    }
    // The numbers of metrics.jsonl counted from its JSON, apart from the naming: each
    // training record's numbers and flags but its step, each evaluation's metrics.
    let mut numbers = 0;
    for line in std::fs::read_to_string(fixture("metrics.jsonl"))
        .unwrap()
        .lines()
    {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        numbers += match record["kind"].as_str().unwrap() {
            "train" => record
                .as_object()
                .unwrap()
                .iter()
                .filter(|(key, value)| *key != "step" && (value.is_number() || value.is_boolean()))
                .count(),
            _ => record["suites"]
                .as_array()
                .unwrap()
                .iter()
                .map(|suite| suite["metrics"].as_object().unwrap().len())
                .sum(),
        };
    }
    assert_eq!(expected.len(), numbers);

    let mut read = BTreeMap::new();
    for (tag, points) in &dump.scalars {
        let steps: Vec<i64> = points.iter().map(|(step, _)| *step).collect();
        assert!(
            steps.windows(2).all(|pair| pair[0] < pair[1]),
            "{tag}: steps {steps:?} not each once, in order"
        );
        for &(step, value) in points {
            read.insert((tag.clone(), step), value.unwrap_or(f64::NAN));
        }
    }
    let keys = |map: &BTreeMap<(String, i64), f64>| map.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&read), keys(&expected), "the tags and steps read");
    for (key, value) in &read {
        let want = expected[key] as f32;
        // The reader's value is the stored f32, widened to a double.
        assert!(
            (value.is_nan() && want.is_nan()) || *value == f64::from(want),
            "{key:?}: TensorBoard read {value}, metrics.jsonl has {} (f32 {want})",
            expected[key]
        );
    }
}
