//! Timing the phases of a training step (`negclip bench train-step --phases`): the step
//! marks the end of each phase, and a [`PhaseClock`], when the step is given one, waits for
//! the device and reads the time.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use burn::tensor::Device;

/// Where the time of a step goes: each reading waits for the device to finish its queued
/// work, so a timed step runs a little slower than an untimed one.
pub struct PhaseClock {
    device: Device,
    last: Cell<Instant>,
    laps: RefCell<Vec<(&'static str, f64)>>,
}

impl PhaseClock {
    pub fn new(device: &Device) -> PhaseClock {
        PhaseClock {
            device: device.clone(),
            last: Cell::new(Instant::now()),
            laps: RefCell::new(Vec::new()),
        }
    }

    /// Start timing a step.
    pub fn start(&self) {
        // A failed sync only makes the reading early; the step itself reports device errors.
        self.device.sync().ok();
        self.last.set(Instant::now());
    }

    /// The end of `phase`: seconds since the previous reading.
    pub(crate) fn lap(&self, phase: &'static str) {
        self.device.sync().ok();
        let now = Instant::now();
        let seconds = now.duration_since(self.last.get()).as_secs_f64();
        self.last.set(now);
        self.laps.borrow_mut().push((phase, seconds));
    }

    /// The phases timed since the last call, in order.
    pub fn take(&self) -> Vec<(&'static str, f64)> {
        self.laps.take()
    }
}

/// Mark the end of `phase` when the step is timed.
pub(crate) fn lap(clock: Option<&PhaseClock>, phase: &'static str) {
    if let Some(clock) = clock {
        clock.lap(phase);
    }
}
