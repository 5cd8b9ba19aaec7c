//! What the userspace datapath's dummy ports sent, for the tests that
//! inject frames into them.

use std::time::{Duration, Instant};

use ferrovs_dpif::netdev::NetdevDpif;

/// Waits (up to 5 s) until port `port` has sent `n` frames; returns what
/// it sent.
pub fn sent(dp: &NetdevDpif, port: u32, n: usize) -> Vec<Vec<u8>> {
    let dev = dp.dummy_device(port).unwrap();
    let mut out = Vec::new();
    let t = Instant::now();
    while out.len() < n && t.elapsed() < Duration::from_secs(5) {
        out.extend(dev.take_sent().into_iter().map(|p| p.data().to_vec()));
        std::thread::sleep(Duration::from_millis(2));
    }
    out
}
