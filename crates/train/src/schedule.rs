//! Learning rate: linear warm-up, then cosine decay to zero, as open_clip's `cosine_lr`.

/// The learning rate at optimiser step `step` (0-based) of `total` steps.
///
/// Warm-up: `base · (step + 1) / warmup`. After it: `½ · (1 + cos(π · e / es)) · base` with
/// `e = step − warmup` and `es = total − warmup`.
pub fn cosine_with_warmup(base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let decay_steps = total.saturating_sub(warmup);
    if decay_steps == 0 {
        return base;
    }
    let progress = (step - warmup) as f64 / decay_steps as f64;
    0.5 * (1.0 + (std::f64::consts::PI * progress).cos()) * base
}

/// The schedule of one run: `base` after `warmup` steps, `total` steps in all.
pub struct Schedule {
    base: f64,
    warmup: usize,
    total: usize,
}

impl Schedule {
    pub fn new(base: f64, warmup: usize, total: u64) -> Schedule {
        Schedule {
            base,
            warmup,
            total: total as usize,
        }
    }

    /// The learning rate of optimiser step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        cosine_with_warmup(self.base, step as usize, self.warmup, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_decays_to_zero() {
        let lr = |s| cosine_with_warmup(1e-3, s, 10, 110);
        assert!((lr(0) - 1e-4).abs() < 1e-15);
        assert!((lr(9) - 1e-3).abs() < 1e-15);
        assert!((lr(10) - 1e-3).abs() < 1e-15, "decay starts at the peak");
        assert!((lr(60) - 0.5e-3).abs() < 1e-12, "half way is half the peak");
        assert!(lr(109) < 1e-6 && lr(109) > 0.0);
        assert!(
            (1..100).all(|s| lr(s + 10) <= lr(s + 9)),
            "monotone after warm-up"
        );
    }

    #[test]
    fn no_warmup_starts_at_the_base_rate() {
        assert_eq!(cosine_with_warmup(2.0, 0, 0, 10), 2.0);
    }
}
