//! What the kernel (or any process able to write to our netlink sockets)
//! sends: whole datagrams of generic netlink messages, and bare message
//! bodies, fed to every decoder of `dpif::netlink` (datapath, vport, flow,
//! upcall, meter and conntrack-limit replies, vport notifications, family
//! lookups, errors with extended acks).
//!
//! Property: no decoder panics; each returns a value or an error.
#![no_main]

// Fixed random bytes and monotonic clock: the same run in every process (see
// the module).
#[path = "../src/fixed_env.rs"]
mod fixed_env;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrovs_dpif::netlink::decode_untrusted(data);
});
