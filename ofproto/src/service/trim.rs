//! Giving freed heap memory back to the system after a big reply.
//!
//! A reply to `ovs-ofctl dump-flows` of 100,000 rules is built in 64 KiB
//! messages, some 10 MB in all, freed once written. The C allocator keeps
//! freed memory for reuse; pieces in the middle of its heap stay resident
//! (they count in the daemon's size) until it is asked to trim them.

/// Returns the allocator's free memory to the system where it can
/// (whole free pages). Costs a walk over the free lists: call it only
/// after freeing something big.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only rearranges the
    // allocator's own free lists; it is safe to call from any thread at
    // any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
