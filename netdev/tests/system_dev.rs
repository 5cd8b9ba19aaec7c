//! The `system` provider on a real veth pair: one `SystemDev` on each
//! end, frames sent on one and received on the other.
//!
//! - GRO is turned on for a veth port while it is open, and off again when
//!   it closes (a veth has it off by default);
//! - a port that was down works from the first frame (a packet socket
//!   bound to a down device holds an error for its first send or receive);
//! - through `recvmmsg` alone (`RxPath::Socket`): a 60-byte frame and a
//!   9000-byte jumbo frame (received without a copy, into the buffer the
//!   kernel wrote) arrive byte for byte;
//! - a TCP super-frame (virtio-net header with gso_size and a partial
//!   checksum) crosses whole, its offload information intact;
//! - the same holds when the receiving end reads the TPACKET_V2 ring (the
//!   default, `RxPath::Ring`), and besides: a 64 KiB super-frame arrives
//!   whole (from the socket beside the ring, flagged in its slot), a
//!   VLAN tag the kernel moved into metadata is put back, and bursts of
//!   small frames spread over many blocks, wrapping around the ring,
//!   arrive whole and in order.
//!
//! Needs root and iproute2: skips with a message otherwise, fails under
//! CI=true.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrovs_netdev::dev::{sys, Netdev, RxPath, SystemDev};
use ferrovs_netdev::packet::{Offload, Packet, GSO_TCPV4};
use ferrovs_netdev::{csum, wire::put_be16};

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn available() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let ok = root && ip(&["link", "show"]);
    if !ok {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "system_dev: needs root and iproute2 under CI=true"
        );
        eprintln!("system_dev: skipped: not root or no iproute2");
    }
    ok
}

/// A veth pair, deleted on drop.
struct Veth(String, String);

impl Veth {
    fn new(tag: &str) -> Veth {
        let p = format!("fsd{tag}{}", std::process::id() % 100_000);
        let v = Veth(format!("{p}a"), format!("{p}b"));
        assert!(ip(&[
            "link", "add", &v.0, "type", "veth", "peer", "name", &v.1
        ]));
        for d in [&v.0, &v.1] {
            assert!(ip(&["link", "set", d, "mtu", "9000"]));
            // No IPv6 chatter on the test links.
            let _ = Command::new("sysctl")
                .args(["-qw", &format!("net.ipv6.conf.{d}.disable_ipv6=1")])
                .status();
        }
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        ip(&["link", "del", &self.0]);
    }
}

const SRC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 1];

fn tcp_frame(payload: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0x5e, 0, 0, 0, 2];
    f.extend_from_slice(&SRC);
    f.extend_from_slice(&[0x08, 0x00]);
    let tot = (20 + 20 + payload) as u16;
    let mut iph = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    iph[2..4].copy_from_slice(&tot.to_be_bytes());
    iph.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    let c = csum::checksum(&iph);
    iph[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&iph);
    // Ports 1000 -> 2000, seq 1, ack 0, data offset 5, ACK.
    f.extend_from_slice(&[0x03, 0xe8, 0x07, 0xd0, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10]);
    f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    f.extend((0..payload).map(|i| (i % 251) as u8));
    f
}

/// Waits up to 5 s for a frame from SRC on `dev`.
fn receive(dev: &SystemDev) -> Option<Packet> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let _ = sys::poll_readable(&[dev.poll_fd()?], 50);
        let mut batch = Vec::new();
        dev.recv(&mut batch, 32).expect("recv");
        if let Some(p) = batch
            .into_iter()
            .find(|p| p.data().get(6..12) == Some(&SRC))
        {
            return Some(p);
        }
    }
    None
}

#[test]
fn veth_frames_cross_whole_and_gro_is_restored() {
    if !available() {
        return;
    }
    let v = Veth::new("s");
    assert!(
        !sys::ethtool_gro(&v.0).unwrap(),
        "veth GRO is off by default"
    );
    {
        let a = SystemDev::open_rx(&v.0, RxPath::Socket).expect("open a");
        let b = SystemDev::open_rx(&v.1, RxPath::Socket).expect("open b");
        assert!(
            sys::ethtool_gro(&v.0).unwrap(),
            "GRO on while the port is open"
        );
        // Both ends are up now; give the carrier a moment.
        wait_up(&a, &b);

        plain_frames_cross(&b, &a, &[60, 9000]);
        // A super-frame: 3 segments' worth of payload, partial checksum.
        super_frame_crosses(&b, &a, 3000, 1000);
        assert_eq!(a.stats().rx_errors + a.stats().rx_dropped, 0);
    }
    assert!(
        !sys::ethtool_gro(&v.0).unwrap(),
        "GRO is off again after close"
    );
}

/// Waits until both ends report carrier (up to 5 s).
fn wait_up(a: &SystemDev, b: &SystemDev) {
    let t = Instant::now();
    while !(a.is_up() && b.is_up()) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP super-frame of `payload` bytes cut into `mss`-byte segments
/// when it must be, with a partial checksum.
fn super_frame(payload: usize, mss: u16) -> (Vec<u8>, Packet) {
    let mut f = tcp_frame(payload);
    let l4 = 34;
    let pseudo = csum::pseudo_v4(0x0a00_0001, 0x0a00_0002, 6, f.len() - l4);
    put_be16(&mut f, l4 + 16, csum::fold(pseudo));
    let mut p = Packet::from_bytes(&f);
    p.offload = Offload {
        csum_partial: true,
        csum_start: l4 as u16,
        csum_offset: 16,
        hdr_len: (l4 + 20) as u16,
        gso_type: GSO_TCPV4,
        gso_size: mss,
    };
    (f, p)
}

/// Plain TCP frames of each of `sizes` bytes sent on `from` arrive on
/// `to` unchanged and without offload metadata.
fn plain_frames_cross(from: &SystemDev, to: &SystemDev, sizes: &[usize]) {
    for &size in sizes {
        let f = tcp_frame(size - 54);
        from.send(Packet::from_bytes(&f)).expect("send");
        let got = receive(to).unwrap_or_else(|| panic!("{size}-byte frame lost"));
        assert_eq!(got.data(), &f[..], "{size}-byte frame changed");
        assert_eq!(got.offload, Offload::default());
    }
}

/// A [`super_frame`] sent on `from` arrives on `to` whole: headers and
/// payload unchanged (the checksum field aside), still a TCP super-frame
/// of segment size `mss` with a partial checksum.
fn super_frame_crosses(from: &SystemDev, to: &SystemDev, payload: usize, mss: u16) {
    let l4 = 34;
    let (f, p) = super_frame(payload, mss);
    from.send(p).expect("send super-frame");
    let got = receive(to).expect("super-frame lost");
    assert_eq!(got.len(), f.len(), "super-frame cut or segmented");
    assert_eq!(got.data()[..l4], f[..l4], "headers changed");
    assert_eq!(got.data()[l4 + 20..], f[l4 + 20..], "payload changed");
    assert_eq!(
        (got.offload.gso_type, got.offload.gso_size),
        (GSO_TCPV4, mss)
    );
    assert!(got.offload.csum_partial, "{:?}", got.offload);
}

#[test]
fn ring_carries_what_the_socket_path_does() {
    ring_receive_path(RxPath::Ring, "r");
}

fn ring_receive_path(rx: RxPath, tag: &str) {
    if !available() {
        return;
    }
    let v = Veth::new(tag);
    let a = SystemDev::open_rx(&v.0, rx).expect("open a with a ring");
    // The other end with the ring too: its send path is the same socket's.
    let b = SystemDev::open_rx(&v.1, rx).expect("open b");
    wait_up(&a, &b);

    plain_frames_cross(&b, &a, &[60, 1514, 9000]);
    // A super-frame of 64 KiB less headers: the largest GRO makes, which a
    // ring block must hold whole.
    super_frame_crosses(&b, &a, 65535 - 20 - 20 - 14, 1448);

    // A VLAN-tagged frame: the receiving kernel moves the tag into
    // metadata; the ring path must put it back.
    let mut tagged = tcp_frame(100);
    tagged.splice(12..12, [0x81, 0x00, 0x20, 0x07]);
    b.send(Packet::from_bytes(&tagged)).expect("send tagged");
    let got = receive(&a).expect("tagged frame lost");
    assert_eq!(got.data(), &tagged[..], "tagged frame changed");

    // The same with a partial checksum: its offsets count the tag again
    // once it is back (the kernel's count the frame without it).
    let l4 = 38;
    let mut p = Packet::from_bytes(&tagged);
    p.offload = Offload {
        csum_partial: true,
        csum_start: l4,
        csum_offset: 16,
        ..Offload::default()
    };
    b.send(p).expect("send tagged, partial checksum");
    let got = receive(&a).expect("tagged frame with partial checksum lost");
    assert_eq!(got.data(), &tagged[..], "tagged frame changed");
    assert!(got.offload.csum_partial, "{:?}", got.offload);
    assert_eq!(
        (got.offload.csum_start, got.offload.csum_offset),
        (l4, 16),
        "checksum offsets not moved with the tag"
    );

    // Bursts over many blocks, each within the ring (1024 slots by
    // default; the reader is not reading while they are sent), and in
    // all past its end so that it wraps around: every frame arrives, in
    // order (the sequence number is in the IP identification field).
    const BURST: usize = 900;
    const BURSTS: usize = 2;
    let mut ids = Vec::new();
    for round in 0..BURSTS {
        let frames: Vec<Packet> = (round * BURST..(round + 1) * BURST)
            .map(|i| {
                let mut f = tcp_frame(6);
                put_be16(&mut f, 18, i as u16);
                Packet::from_bytes(&f)
            })
            .collect();
        for chunk in frames.chunks(100) {
            b.send_batch(&mut chunk.to_vec());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while ids.len() < (round + 1) * BURST && Instant::now() < deadline {
            let _ = sys::poll_readable(&[a.poll_fd().unwrap()], 50);
            let mut batch = Vec::new();
            a.recv(&mut batch, 32).expect("recv");
            ids.extend(
                batch
                    .iter()
                    .filter(|p| p.data().get(6..12) == Some(&SRC))
                    .map(|p| u16::from_be_bytes([p.data()[18], p.data()[19]])),
            );
        }
    }
    let sent = b.stats().tx_packets;
    assert_eq!(
        b.stats().tx_dropped + b.stats().tx_errors,
        0,
        "sender lost frames"
    );
    assert_eq!(
        ids.len(),
        BURST * BURSTS,
        "of {sent} sent, {} arrived",
        ids.len()
    );
    assert!(
        ids.iter().enumerate().all(|(i, &id)| id == i as u16),
        "burst out of order"
    );
    assert_eq!(a.stats().rx_errors + a.stats().rx_dropped, 0);
}
