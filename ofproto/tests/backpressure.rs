//! A peer that sends many requests without reading the replies must not
//! make the service buffer them all: requests wait while replies are
//! unread, and every reply still arrives once the peer reads.

use ferrovs_ofproto::{versions_from_protocols, BridgeConfig, OfprotoService};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn msg(ty: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![4, ty, 0, 0];
    m.extend_from_slice(&xid.to_be_bytes());
    m.extend_from_slice(body);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

#[test]
fn unread_replies_hold_back_requests() {
    let dir = std::env::temp_dir().join(format!("ferrovs-ofproto-bp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let svc = OfprotoService::start().expect("service");
    let path = dir.join("br0.mgmt");
    svc.add_bridge(BridgeConfig {
        name: "br0".into(),
        datapath_id: 1,
        mgmt_path: path.clone(),
        versions: versions_from_protocols(&[]),
        normal_flow: false,
    })
    .expect("bridge");
    let mut s = UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // HELLO for OpenFlow 1.3, then 2000 flows.
    s.write_all(&[4, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x10])
        .expect("hello");
    let mut flows = Vec::new();
    for i in 0..2000u32 {
        let mut b = vec![0u8; 16];
        b.extend_from_slice(&[
            0, 0, 0, 0, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]);
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        // match reg0 = i
        b.extend_from_slice(&[0, 1, 0, 12, 0, 1, 0, 4]);
        b.extend_from_slice(&i.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        flows.extend_from_slice(&msg(14, i, &b));
    }
    s.write_all(&flows).expect("flows");
    // 200 dumps of all flows (about 200 KB each) without reading.
    let mut req = vec![
        0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    req.extend_from_slice(&[0; 20]);
    req.extend_from_slice(&[0, 1, 0, 4, 0, 0, 0, 0]);
    let n = 200u32;
    let mut all = Vec::new();
    for i in 0..n {
        all.extend_from_slice(&msg(18, 10_000 + i, &req));
    }
    let before = rss_kb();
    s.write_all(&all).expect("requests");
    std::thread::sleep(Duration::from_secs(2));
    let grown = rss_kb().saturating_sub(before);
    // All replies together are about 40 MB; holding them all would show.
    assert!(
        grown < 30_000,
        "service buffered {grown} kB of unread replies"
    );
    let (mut finals, mut buf, mut chunk) = (0u32, Vec::new(), vec![0u8; 1 << 20]);
    while finals < n {
        let got = s.read(&mut chunk).expect("read");
        assert!(got > 0, "connection closed after {finals} replies");
        buf.extend_from_slice(&chunk[..got]);
        let mut at = 0;
        while buf.len() - at >= 8 {
            let len = u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize;
            if buf.len() - at < len {
                break;
            }
            let m = &buf[at..at + len];
            // The last part of a multipart reply has the "more" flag clear.
            if m[1] == 19 && m[11] & 1 == 0 {
                finals += 1;
            }
            at += len;
        }
        buf.drain(..at);
    }
    assert_eq!(finals, n);
    svc.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
