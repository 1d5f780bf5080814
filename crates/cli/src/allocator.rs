//! glibc's allocator, told to keep freed memory for the next step.
//!
//! A training step frees and allocates the same large buffers (activations, gradients, the
//! token embedding's dense gradient) every step. By default glibc serves large blocks with
//! `mmap`, unmaps them when freed and trims the heap's top, so the next step takes page
//! faults to get the memory back, zeroed. Serving every block from the heap and never
//! trimming it keeps the memory for reuse, at the price of holding the run's high-water mark.
//! Measured with `negclip bench train-step --batch 32` (`docs/performance.md`): page faults
//! 1.85 M → 0.27 M for the `small` preset (5 steps) and 0.20 M → 0.03 M for `tiny` (23 steps).

/// Larger than any allocation of a run: no `mmap` for blocks, no trimming of the heap.
const NEVER: i32 = i32::MAX;

/// Tune the allocator; call first thing in `main`, before other threads start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters, and no other thread is running yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, NEVER);
        libc::mallopt(libc::M_TRIM_THRESHOLD, NEVER);
    }
}

/// Other platforms' allocators are left as they are.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {
    let _ = NEVER;
}
