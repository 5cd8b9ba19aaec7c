//! The two things a fuzz binary reads that differ from one process to the
//! next, made the same in every run: random bytes (`getrandom(2)`) and the
//! monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`).
//!
//! Why: libFuzzer is guided by the coverage of each input and by the values
//! the code compares (it keeps the operands of recent comparisons in a table
//! and draws mutations from it). Two runs with the same `-seed`, seeds and
//! binary fuzz the same inputs only if the code under test does the same on
//! each input. Two things made it differ (measured: fuzz/README.md,
//! "Reproducible runs"):
//! - std keys every `HashMap`'s `RandomState` with bytes from `getrandom`,
//!   fresh in each process; the switch's hash maps (bundles, instruction
//!   pool, MAC learning) and the classifier's key hash then take other paths
//!   through their tables and compare other hashes;
//! - `Instant::now()` (flow creation times, statistics durations, the
//!   switch's epoch) reads the clock, and std checks its nanoseconds
//!   against 10^9: a comparison of a value that is never the same twice.
//!
//! How: std links both functions from glibc; definitions in the binary
//! itself take their place for the Rust code (glibc and libFuzzer use their
//! own paths: libFuzzer's timers read the real-time clock, passed through
//! here). Random bytes are a fixed pattern; the monotonic clock starts at a
//! fixed time and moves 1 µs per reading, so it never stands still (a loop
//! waiting for a deadline still ends) and reads the same in every run.
//! Nothing in a fuzz binary needs real randomness (libFuzzer draws from its
//! own generator, seeded by `-seed`) or the real monotonic time. Every
//! target includes this file as a module.

use std::sync::atomic::{AtomicU64, Ordering};

/// Fills `buf` with a fixed pattern and reports it full.
///
/// # Safety
/// `buf` must be valid for writes of `len` bytes: the getrandom(2)
/// contract, which std keeps.
#[no_mangle]
pub unsafe extern "C" fn getrandom(buf: *mut u8, len: usize, _flags: u32) -> isize {
    if buf.is_null() {
        return 0;
    }
    // SAFETY: the caller passes a buffer of `len` writable bytes, as
    // getrandom(2) requires (checked non-null above).
    let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    for (i, b) in out.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(0x9d) ^ 0x5a;
    }
    isize::try_from(len).unwrap_or(isize::MAX)
}

/// Microseconds the fake monotonic clock has moved so far.
static MONOTONIC_MICROS: AtomicU64 = AtomicU64::new(0);

/// `CLOCK_MONOTONIC` from a counter (1,000,000 s, then 1 µs more per
/// reading); every other clock from the kernel.
///
/// # Safety
/// `tp` must be valid for a write of one `timespec`: the clock_gettime(2)
/// contract, which std keeps.
#[no_mangle]
pub unsafe extern "C" fn clock_gettime(clock: libc::clockid_t, tp: *mut libc::timespec) -> i32 {
    if clock != libc::CLOCK_MONOTONIC || tp.is_null() {
        // SAFETY: the system call with the caller's own arguments, which
        // the clock_gettime(2) contract makes valid (the kernel checks
        // them too).
        return unsafe { libc::syscall(libc::SYS_clock_gettime, clock, tp) } as i32;
    }
    let micros = MONOTONIC_MICROS.fetch_add(1, Ordering::Relaxed);
    let t = libc::timespec {
        tv_sec: 1_000_000 + (micros / 1_000_000) as libc::time_t,
        tv_nsec: ((micros % 1_000_000) * 1_000) as libc::c_long,
    };
    // SAFETY: `tp` is non-null (checked above) and, by the contract,
    // valid for a write of one timespec.
    unsafe { tp.write(t) };
    0
}
