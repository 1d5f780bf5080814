//! The allocator: mimalloc, told to keep freed memory for the next step.
//!
//! A training step frees and allocates the same large buffers (activations, gradients, the
//! token embedding's dense gradient) every step, on the main thread and on rayon's workers
//! (each runs one of the two towers). An allocator that hands freed memory back to the OS
//! makes the next step take page faults to get it back, zeroed.
//!
//! glibc did so even when told not to (`M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD` at their
//! maximum, as this module set until 2026-11-30): those settings hold only for the main
//! arena, and every other thread allocates from 64 MiB heaps that glibc maps and unmaps as the
//! step's memory comes and goes. One arena for all threads (`M_ARENA_MAX = 1`) stopped that
//! but serialised the rewriters' many small allocations (`bench negatives`, 2 threads: 255 k
//! → 152 k captions/s). mimalloc keeps a heap per thread, and with purging off it keeps what
//! it has mapped: `negclip bench train-step --preset small --batch 32 --warmup 1 --iters 6`
//! took 2.47 M page faults with glibc, 0.11 M with mimalloc's defaults and 1 077 with purging
//! off, and its step went from 1 434 / 1 415 to 1 108 / 1 117 ms (`docs/performance.md`).
//! The price is a higher high-water mark: peak RSS 0.98 → 1.33 GB there, 117 → 200 MB for
//! `tiny`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`, which `libmimalloc-sys` 0.1 does not name: the
/// position of `mi_option_purge_delay` in `mi_option_e` (`mimalloc.h`, v2 and v3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// "Never purge": freed memory stays mapped for the next allocation.
const NEVER: std::os::raw::c_long = -1;

/// Tune the allocator; call first thing in `main`.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores an option value, read when memory is next purged.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, NEVER) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minor page faults of this thread so far (other tests run on other threads).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn page_faults() -> i64 {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
        assert_eq!(rc, 0);
        // SAFETY: getrusage succeeded, so the struct is filled.
        unsafe { usage.assume_init() }.ru_minflt
    }

    /// Allocate 64 MiB and write every page, as a step writes its activations.
    fn fill_64_mib() -> Vec<u8> {
        let mut block = vec![0u8; 64 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        block
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn memory_freed_by_one_step_is_reused_by_the_next_without_page_faults() {
        keep_freed_memory();
        drop(fill_64_mib());
        // Longer than mimalloc's default purge delay (10 ms, 100 ms for arenas), so with
        // purging on, the block would be handed back to the OS by now.
        std::thread::sleep(std::time::Duration::from_millis(300));
        // mimalloc purges lazily, when memory is next allocated; a step allocates often.
        for _ in 0..100 {
            drop(vec![1u8; 1 << 20]);
        }
        let before = page_faults();
        let block = fill_64_mib();
        let faults = page_faults() - before;
        drop(block);
        // 64 MiB is 16 384 pages; taking them back from the OS faults on each (or on each
        // 2 MiB huge page, 32).
        assert!(
            faults < 16,
            "{faults} page faults refilling a freed 64 MiB block"
        );
    }
}
