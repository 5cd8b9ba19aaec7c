//! A global allocator for the micro-benchmarks (`examples/*_bench.rs`)
//! that counts allocations, and can name where each comes from.
//!
//! A benchmark declares `#[global_allocator] static GLOBAL: Counting =
//! Counting;`, reads [`allocations`] around its loop, and may wrap one
//! iteration in [`trace_allocations`] to print the ferrovs frames of each
//! allocation's caller.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts allocations and reallocations (which cost as much) of every
/// thread, then forwards to the system allocator.
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set while [`trace_allocations`] runs on this thread.
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

/// Allocations so far, in every thread.
pub fn allocations() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Runs `f`, printing to stderr the first three ferrovs frames of the
/// caller of each allocation this thread makes meanwhile.
pub fn trace_allocations<R>(f: impl FnOnce() -> R) -> R {
    TRACING.with(|t| t.set(true));
    let r = f();
    TRACING.with(|t| t.set(false));
    r
}

fn count() {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    // try_with: the thread-local may be gone while a thread exits.
    let _ = TRACING.try_with(|t| {
        if !t.get() {
            return;
        }
        // Off while printing: the backtrace allocates too.
        t.set(false);
        let bt = std::backtrace::Backtrace::force_capture().to_string();
        let frames: Vec<&str> = bt
            .lines()
            .map(str::trim)
            .filter(|l| l.contains("ferrovs") && !l.starts_with("at "))
            .filter(|l| !l.contains("counting_alloc"))
            .take(3)
            .collect();
        eprintln!("alloc: {}", frames.join(" < "));
        t.set(true);
    });
}

// SAFETY: forwards every call to the system allocator unchanged; counting
// touches only an atomic and a thread-local flag.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}
