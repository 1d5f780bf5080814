//! TensorBoard events files in the run folder (`[log] tensorboard`, on by default), so that a
//! run can be watched live with `tensorboard --logdir runs/`.
//!
//! Every record of `metrics.jsonl` is also written as one TensorBoard event at the record's
//! step ([`scalars`] names the values): each number of a training record as `train/<field>`
//! (`train/loss`, `train/lr`, `train/logit_scale`, `train/grad_norm`, `train/samples_per_sec`,
//! …; `skipped` as 0 or 1; `grad_norm` and `loss_scale` only where they were computed), and
//! each metric of an evaluation as `<suite>/<metric>` (`synth-relation/accuracy`). TensorBoard
//! keeps a scalar as an f32 (`simple_value`), so the events hold the records' numbers rounded
//! to f32. At the end of the run the plots (`metrics.png`, `reliability-*.png`) are added as
//! images (`plots/metrics`, …) at the last step.
//!
//! The file is `events.out.tfevents.<unix seconds>.<hostname>` (TensorBoard's own naming;
//! `.1`, `.2`, … when that name is taken), written by the process that writes the run's
//! files (rank 0) only. Its first event is the file version, `brain.Event:2`; the rest are
//! TFRecords ([`tfrecord`]) of the protocol-buffer messages in [`event`], encoded with
//! prost. Each event is written with one write call as its record is logged, like
//! `metrics.jsonl`, so TensorBoard sees it at once; the file is synced to disk at each
//! evaluation and checkpoint.
//!
//! Resuming: TensorBoard reads every events file of a folder, so a resumed run opens a new
//! file and the earlier files are cut back, as `metrics.jsonl` is, to the events of steps up
//! to the checkpoint's (a torn last record of a killed run is dropped with them). The
//! folder then holds each step once, with the wall times it was first written at. The new
//! file begins with a `SessionLog START` event one step after the checkpoint, which makes a
//! TensorBoard that was already showing the run (its Python loader purges on `START`) drop
//! the steps it read from beyond that point.

use std::fs::{self, File, OpenOptions};
use std::io::{Cursor, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use image::ImageDecoder;
use prost::Message;

use crate::error::TrainError;
use crate::io::write_file;
use crate::log::Record;

pub mod event;
pub mod tfrecord;

use event::{Event, Image, Kind, SessionLog, SessionStatus, Summary, Value, What};

/// The version string of the events files TensorBoard reads today.
pub const FILE_VERSION: &str = "brain.Event:2";
/// What every events file name starts with; TensorBoard reads the files whose name holds
/// `tfevents`.
pub const FILE_PREFIX: &str = "events.out.tfevents.";

/// The events file a run appends to.
pub struct EventLog {
    path: PathBuf,
    file: File,
}

impl EventLog {
    /// A new events file in `dir`, starting with the file-version event.
    pub fn create(dir: &Path) -> Result<EventLog, TrainError> {
        let (path, file) = create_new_file(dir)?;
        let log = EventLog { path, file };
        log.write(&Event {
            wall_time: now(),
            step: 0,
            what: Some(What::FileVersion(FILE_VERSION.to_string())),
        })?;
        Ok(log)
    }

    /// Continue the events of the run in `dir` after `step`, the checkpoint's: cut the
    /// existing files back to steps up to `step`, then open a new one that starts with
    /// `SessionLog START` at `step + 1`.
    pub fn resume(dir: &Path, step: u64) -> Result<EventLog, TrainError> {
        for path in events_files(dir)? {
            cut_back(&path, step)?;
        }
        let log = EventLog::create(dir)?;
        log.write(&Event {
            wall_time: now(),
            step: to_step(step + 1),
            what: Some(What::SessionLog(SessionLog {
                status: SessionStatus::Start as i32,
            })),
        })?;
        Ok(log)
    }

    /// The run's events file where `enabled` (`[log] tensorboard`): a new one, or for a run
    /// resumed from step `resumed`, the one [`EventLog::resume`] opens.
    pub fn open(
        dir: &Path,
        enabled: bool,
        resumed: Option<u64>,
    ) -> Result<Option<EventLog>, TrainError> {
        match (enabled, resumed) {
            (false, _) => Ok(None),
            (true, None) => EventLog::create(dir).map(Some),
            (true, Some(step)) => EventLog::resume(dir, step).map(Some),
        }
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `record`'s numbers as scalars at its step.
    pub fn record(&self, record: &Record) -> Result<(), TrainError> {
        let value = scalars(record)
            .into_iter()
            .map(|(tag, value)| Value {
                tag,
                kind: Some(Kind::SimpleValue(value as f32)),
            })
            .collect();
        self.summary(record.step(), value)
    }

    /// The plot `png` as image `plots/<file stem>` at `step`.
    pub fn plot(&self, step: u64, png: &Path) -> Result<(), TrainError> {
        let stem = png.file_stem().unwrap_or_default().to_string_lossy();
        self.image(&format!("plots/{stem}"), step, png)
    }

    /// The PNG file `png` as image `tag` at `step`.
    pub fn image(&self, tag: &str, step: u64, png: &Path) -> Result<(), TrainError> {
        let bytes = fs::read(png).map_err(|source| TrainError::Io {
            path: png.to_path_buf(),
            source,
        })?;
        let image = png_image(bytes).map_err(|source| TrainError::Plot {
            path: png.to_path_buf(),
            source,
        })?;
        let value = Value {
            tag: tag.to_string(),
            kind: Some(Kind::Image(image)),
        };
        self.summary(step, vec![value])
    }

    /// Make what was written durable (at evaluations and checkpoints).
    pub fn sync(&self) -> Result<(), TrainError> {
        self.file.sync_data().map_err(|source| self.io(source))
    }

    fn summary(&self, step: u64, value: Vec<Value>) -> Result<(), TrainError> {
        self.write(&Event {
            wall_time: now(),
            step: to_step(step),
            what: Some(What::Summary(Summary { value })),
        })
    }

    fn write(&self, event: &Event) -> Result<(), TrainError> {
        // One call per event: a killed run leaves at most its last record torn.
        (&self.file)
            .write_all(&tfrecord::frame(&event.encode_to_vec()))
            .map_err(|source| self.io(source))
    }

    fn io(&self, source: std::io::Error) -> TrainError {
        TrainError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// The scalars of a `metrics.jsonl` record, tag and value: `train/<field>` for each number
/// of a training record, `<suite>/<metric>` for each evaluated metric, `time/<stage>` (seconds)
/// and `time/peak_rss_bytes` for a session's costs. The evaluation's
/// epoch, its sampling and the suites' full reports are not scalars of the run.
pub fn scalars(record: &Record) -> Vec<(String, f64)> {
    match record {
        Record::Train(train) => {
            let mut fields = vec![
                ("epoch", train.epoch as f64),
                ("loss", train.loss),
                ("loss_i2t", train.loss_i2t),
                ("loss_t2i", train.loss_t2i),
                ("lr", train.lr),
                ("logit_scale", train.logit_scale),
            ];
            fields.extend(train.grad_norm.map(|norm| ("grad_norm", norm)));
            fields.extend(train.loss_scale.map(|scale| ("loss_scale", scale)));
            fields.extend([
                ("skipped", if train.skipped { 1.0 } else { 0.0 }),
                ("images", train.images as f64),
                ("hard_captions", train.hard_captions as f64),
                ("samples_per_sec", train.samples_per_sec),
            ]);
            fields
                .into_iter()
                .map(|(field, value)| (format!("train/{field}"), value))
                .collect()
        }
        Record::Eval(eval) => eval
            .suites
            .iter()
            .flat_map(|suite| {
                suite
                    .metrics
                    .iter()
                    .map(|(metric, &value)| (format!("{}/{metric}", suite.suite), value))
            })
            .collect(),
        Record::Time(time) => {
            let total = ("total", time.seconds.total);
            let stages = time.seconds.stages().into_iter().chain([total]);
            let memory = time.peak_rss_bytes.map(|b| ("peak_rss_bytes", b as f64));
            stages
                .chain(memory)
                .map(|(field, value)| (format!("time/{field}"), value))
                .collect()
        }
    }
}

/// The events files of a run folder, in the order TensorBoard reads them (by name).
pub fn events_files(dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    let io = |source| TrainError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let is_events = entry.file_name().to_string_lossy().starts_with(FILE_PREFIX);
        if is_events && entry.file_type().map_err(io)?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// An events file as read back.
pub struct EventsFile {
    pub events: Vec<Event>,
    /// Why reading stopped before the end of the file (a torn last record), if it did.
    pub stopped: Option<String>,
}

/// Read the events of one file, up to the first record that cannot be read.
pub fn read_events(path: &Path) -> Result<EventsFile, TrainError> {
    let bytes = fs::read(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(decode(&bytes))
}

/// The events of `bytes`, up to the first record that cannot be read.
fn decode(bytes: &[u8]) -> EventsFile {
    let records = tfrecord::unframe(bytes);
    let mut stopped = records
        .stopped
        .map(|(at, why)| format!("{why} at byte {at}"));
    let mut events = Vec::new();
    for data in records.records {
        match Event::decode(data) {
            Ok(event) => events.push(event),
            Err(e) => {
                stopped = Some(format!(
                    "event {} is not an Event message: {e}",
                    events.len()
                ));
                break;
            }
        }
    }
    EventsFile { events, stopped }
}

/// Drop the events of `path` after `step` (the file version stays), and a torn tail.
fn cut_back(path: &Path, step: u64) -> Result<(), TrainError> {
    let bytes = fs::read(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = decode(&bytes);
    if let Some(why) = &file.stopped {
        tracing::warn!("{}: dropping the events from {why}", path.display());
    }
    let kept: Vec<&Event> = file
        .events
        .iter()
        .filter(|event| {
            matches!(event.what, Some(What::FileVersion(_))) || event.step <= to_step(step)
        })
        .collect();
    if kept.len() == file.events.len() && file.stopped.is_none() {
        return Ok(());
    }
    let mut out = Vec::new();
    for event in kept {
        out.extend(tfrecord::frame(&event.encode_to_vec()));
    }
    write_file(path, &out)
}

/// A file name no other file in `dir` has, and the file, created empty.
fn create_new_file(dir: &Path) -> Result<(PathBuf, File), TrainError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!("{FILE_PREFIX}{secs}.{}", hostname());
    for n in 0.. {
        // `.1` sorts after the bare name, so files of the same second are read in order.
        let name = match n {
            0 => base.clone(),
            n => format!("{base}.{n}"),
        };
        let path = dir.join(name);
        match OpenOptions::new().append(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(TrainError::Io { path, source }),
        }
    }
    unreachable!("some file name is free")
}

/// This machine's name, as a file name part. Read from the kernel rather than through a
/// crate: the crate at hand (rustix's `system` feature) would rebuild rustix and everything
/// above it, and the name only keeps files of different machines apart.
fn hostname() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || "-_.".contains(c) {
            true => c,
            false => '_',
        })
        .collect();
    match name.is_empty() {
        true => "localhost".to_string(),
        false => name,
    }
}

/// A PNG as an image value: its size and colour type from the header, no decoding.
fn png_image(bytes: Vec<u8>) -> Result<Image, image::ImageError> {
    let decoder = image::codecs::png::PngDecoder::new(Cursor::new(&bytes))?;
    let (width, height) = decoder.dimensions();
    let colorspace = match decoder.color_type().channel_count() {
        1 => 1,
        2 => 2,
        3 => 3,
        _ => 4,
    };
    Ok(Image {
        height: height as i32,
        width: width as i32,
        colorspace,
        encoded_image_string: bytes,
    })
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An event's step: proto's int64.
fn to_step(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::evaluate::{Report, SuiteResult};
    use crate::log::{EvalRecord, TrainRecord};

    fn train(step: u64) -> Record {
        Record::Train(TrainRecord {
            step,
            epoch: 2,
            loss: 1.6947746276855469,
            loss_i2t: 2.0581679344177246,
            loss_t2i: 1.3313814401626587,
            lr: 4e-5,
            logit_scale: 3.0466387271881104,
            grad_norm: Some(5.849866149710533),
            loss_scale: Some(65536.0),
            skipped: true,
            images: 64,
            hard_captions: 48,
            samples_per_sec: 166.88725337062706,
        })
    }

    fn eval(step: u64) -> Record {
        let suite = |name: &str, metrics: &[(&str, f64)]| SuiteResult {
            suite: name.to_string(),
            metrics: metrics.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
            report: Report::None,
        };
        Record::Eval(EvalRecord {
            step,
            epoch: None,
            sampling: None,
            suites: vec![
                suite("synth-relation", &[("accuracy", 0.625)]),
                suite(
                    "retrieval",
                    &[("image_to_text/1", 0.5), ("text_to_image/5", 0.75)],
                ),
            ],
        })
    }

    /// (step, tag, value) of every scalar in `events`.
    fn scalar_events(events: &[Event]) -> Vec<(i64, String, f32)> {
        let mut out = Vec::new();
        for event in events {
            if let Some(What::Summary(summary)) = &event.what {
                for value in &summary.value {
                    if let Some(Kind::SimpleValue(v)) = value.kind {
                        out.push((event.step, value.tag.clone(), v));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_number_of_a_training_record_is_a_scalar_named_for_its_field() {
        // Through the record's JSON, so a field added to the record later without a scalar
        // fails here.
        let record = train(7);
        let scalars: BTreeMap<String, f64> = scalars(&record).into_iter().collect();
        let json = serde_json::to_value(&record).unwrap();
        let mut expected = BTreeMap::new();
        for (field, value) in json.as_object().unwrap() {
            let number = match value {
                serde_json::Value::Number(n) => n.as_f64().unwrap(),
                serde_json::Value::Bool(b) => f64::from(u8::from(*b)),
                _ => continue, // the kind
            };
            if field != "step" {
                expected.insert(format!("train/{field}"), number);
            }
        }
        assert_eq!(scalars, expected);
        assert_eq!(expected.len(), 12);
    }

    #[test]
    fn evaluation_metrics_are_tagged_suite_slash_metric() {
        assert_eq!(
            scalars(&eval(0)),
            vec![
                ("synth-relation/accuracy".to_string(), 0.625),
                ("retrieval/image_to_text/1".to_string(), 0.5),
                ("retrieval/text_to_image/5".to_string(), 0.75),
            ]
        );
    }

    #[test]
    fn records_read_back_after_the_file_version_at_their_steps_as_f32() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::create(dir.path()).unwrap();
        log.record(&eval(0)).unwrap();
        log.record(&train(10)).unwrap();
        log.sync().unwrap();
        let files = events_files(dir.path()).unwrap();
        assert_eq!(files, vec![log.path().to_path_buf()]);
        let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        let read = read_events(&files[0]).unwrap();
        assert!(read.stopped.is_none());
        assert_eq!(
            read.events[0].what,
            Some(What::FileVersion("brain.Event:2".into()))
        );
        let expected: Vec<(i64, String, f32)> = [(0, eval(0)), (10, train(10))]
            .iter()
            .flat_map(|(step, record)| {
                scalars(record)
                    .into_iter()
                    .map(move |(tag, value)| (*step, tag, value as f32))
            })
            .collect();
        assert_eq!(scalar_events(&read.events), expected);
        assert_eq!(read.events.len(), 3, "one event per record");
    }

    #[test]
    fn a_plot_is_an_image_of_its_size_tagged_by_its_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("metrics.png");
        image::RgbImage::from_pixel(5, 3, image::Rgb([10, 20, 30]))
            .save(&png)
            .unwrap();
        let log = EventLog::create(dir.path()).unwrap();
        log.plot(40, &png).unwrap();
        let read = read_events(log.path()).unwrap();
        let Some(What::Summary(summary)) = &read.events[1].what else {
            panic!("a summary");
        };
        assert_eq!(read.events[1].step, 40);
        assert_eq!(summary.value[0].tag, "plots/metrics");
        let Some(Kind::Image(image)) = &summary.value[0].kind else {
            panic!("an image");
        };
        assert_eq!((image.width, image.height, image.colorspace), (5, 3, 3));
        assert_eq!(image.encoded_image_string, std::fs::read(&png).unwrap());
    }

    #[test]
    fn resuming_cuts_the_files_back_to_the_checkpoint_and_continues_in_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let first = EventLog::create(dir.path()).unwrap();
        first.record(&eval(0)).unwrap();
        for step in 1..=6 {
            first.record(&train(step)).unwrap();
        }
        // Killed mid-write: a torn last record.
        let torn = tfrecord::frame(b"a record never finished");
        let mut file = OpenOptions::new().append(true).open(first.path()).unwrap();
        file.write_all(&torn[..torn.len() - 3]).unwrap();
        let first_path = first.path().to_path_buf();
        drop(first);

        let resumed = EventLog::resume(dir.path(), 3).unwrap();
        for step in 4..=6 {
            resumed.record(&train(step)).unwrap();
        }
        let files = events_files(dir.path()).unwrap();
        assert_eq!(
            files,
            vec![first_path.clone(), resumed.path().to_path_buf()]
        );
        let old = read_events(&first_path).unwrap();
        assert!(old.stopped.is_none(), "the torn record is gone");
        assert_eq!(
            old.events.iter().map(|e| e.step).collect::<Vec<_>>(),
            vec![0, 0, 1, 2, 3]
        );
        let new = read_events(resumed.path()).unwrap();
        assert_eq!(
            new.events[0].what,
            Some(What::FileVersion(FILE_VERSION.into()))
        );
        assert_eq!(new.events[1].step, 4);
        assert_eq!(
            new.events[1].what,
            Some(What::SessionLog(SessionLog {
                status: SessionStatus::Start as i32
            }))
        );
        // The folder holds each step's loss once, in order.
        let losses: Vec<i64> = files
            .iter()
            .flat_map(|path| scalar_events(&read_events(path).unwrap().events))
            .filter(|(_, tag, _)| tag == "train/loss")
            .map(|(step, _, _)| step)
            .collect();
        assert_eq!(losses, vec![1, 2, 3, 4, 5, 6]);
    }
}
