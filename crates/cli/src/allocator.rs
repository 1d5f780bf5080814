//! glibc's allocator, told to keep freed memory for the next step.
//!
//! A training step frees and allocates the same large buffers (activations, gradients, the
//! token embedding's dense gradient) every step. By default glibc hands large freed blocks
//! back to the kernel, and the next step takes page faults to get them back, zeroed. Keeping
//! a pad of free memory at the top of the heap avoids that. Measured with
//! `negclip bench train-step --preset tiny --batch 32` (23 steps): 203 000 page faults by
//! default, 23 000 with this pad (`docs/performance.md`).

/// Keep up to this much freed memory at the top of the heap.
const TOP_PAD: i32 = 256 << 20;

/// Tune the allocator; call first thing in `main`, before other threads start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters, and no other thread is running yet.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
    }
}

/// Other platforms' allocators are left as they are.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {
    let _ = TOP_PAD;
}
