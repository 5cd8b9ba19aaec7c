//! The monotonic clock in milliseconds, the time base of the kernel's
//! OVS_FLOW_ATTR_USED (and of Open vSwitch's `used:` ages).

/// Milliseconds of CLOCK_MONOTONIC, with the seconds cut to 32 bits as
/// the kernel cuts them when it reports a flow's last use.
pub fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call;
    // clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::from(ts.tv_sec as u32) * 1000 + (ts.tv_nsec as u64) / 1_000_000
}
