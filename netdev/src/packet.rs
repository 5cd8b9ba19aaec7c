//! `Packet`: an owned Ethernet frame with headroom in front (so that
//! pushing a VLAN tag or a tunnel header does not move the payload) and the
//! metadata the datapath carries along with it.

/// Bytes kept free in front of a received frame for later pushes (VLAN and
/// MPLS tags, tunnel headers up to IPv6 + UDP + Geneve with options).
pub const DEFAULT_HEADROOM: usize = 128;

/// How the sender left the checksum and segmentation work, as the
/// virtio-net header (or PACKET_AUXDATA) described it when the frame came
/// in. The datapath either passes this on to a device that understands it,
/// or finishes the work in software (`offload::finish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offload {
    /// The L4 checksum is partial: the field at `csum_start + csum_offset`
    /// (offsets from the start of the frame) holds only the pseudo-header
    /// sum, and the sum over the bytes from `csum_start` must be added.
    pub csum_partial: bool,
    pub csum_start: u16,
    pub csum_offset: u16,
    /// Length of the headers in front of the payload (a hint for
    /// segmentation), from the frame start.
    pub hdr_len: u16,
    /// Segmentation left to the receiver: one of the `GSO_*` values.
    pub gso_type: u8,
    /// Payload bytes per segment when `gso_type` is not `GSO_NONE`.
    pub gso_size: u16,
}

pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_UDP: u8 = 3;
pub const GSO_TCPV6: u8 = 4;
pub const GSO_UDP_L4: u8 = 5;

/// Room for received Geneve options: four 4-byte options with their
/// headers, more than OVN's one. Longer option lists are not carried.
pub const GENEVE_OPTS_MAX: usize = 32;

/// The Geneve options of a received packet, whole as on the wire (class,
/// type, length, body each). In a mask, `len` 0xff matches the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GeneveOpts {
    pub len: u8,
    pub bytes: [u8; GENEVE_OPTS_MAX],
}

impl GeneveOpts {
    /// The options `b`, when they fit.
    pub fn new(b: &[u8]) -> Option<GeneveOpts> {
        let mut o = GeneveOpts {
            len: u8::try_from(b.len()).ok()?,
            ..Default::default()
        };
        o.bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(o)
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(GENEVE_OPTS_MAX)]
    }

    pub fn and(&self, m: &GeneveOpts) -> GeneveOpts {
        let mut bytes = [0; GENEVE_OPTS_MAX];
        for (o, (a, b)) in bytes.iter_mut().zip(self.bytes.iter().zip(m.bytes.iter())) {
            *o = a & b;
        }
        GeneveOpts {
            len: self.len & m.len,
            bytes,
        }
    }
}

/// Tunnel metadata of a received (decapsulated) packet or of a packet about
/// to be encapsulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TunnelMeta {
    pub tun_id: u64,
    pub ipv4_src: u32,
    pub ipv4_dst: u32,
    pub ipv6_src: u128,
    pub ipv6_dst: u128,
    pub flags: u16,
    pub tos: u8,
    pub ttl: u8,
    pub tp_src: u16,
    pub tp_dst: u16,
    pub geneve: GeneveOpts,
}

impl TunnelMeta {
    pub fn is_set(&self) -> bool {
        self.ipv4_dst != 0 || self.ipv6_dst != 0
    }
}

/// Metadata that travels with a packet through the datapath (everything in
/// a flow key that does not come from the packet's bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketMeta {
    pub in_port: u32,
    pub recirc_id: u32,
    pub dp_hash: u32,
    pub skb_priority: u32,
    pub skb_mark: u32,
    pub ct_state: u32,
    pub ct_zone: u16,
    pub ct_mark: u32,
    pub ct_label: u128,
    pub tunnel: TunnelMeta,
}

/// An owned frame: `buf[start..]` is the frame, `buf[..start]` headroom.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet {
    buf: Vec<u8>,
    start: usize,
    pub meta: PacketMeta,
    pub offload: Offload,
}

/// Capacity of the buffers that packets of up to this size (with their
/// headroom) get from, and give back to, their thread's pool.
pub const POOLED_CAPACITY: usize = 2048;
/// Most buffers a thread's pool keeps (a poll thread receives, and
/// frees on sending, a batch of 32 at a time).
const POOL_MAX: usize = 64;

thread_local! {
    /// Free packet buffers of `POOLED_CAPACITY`, empty. A forwarded
    /// frame is received, sent and freed on the same poll thread: taking
    /// its buffer from here spares malloc and free per frame (freeing a
    /// batch of buffers at once overflowed malloc's per-thread cache and
    /// showed as consolidation of its free lists in profiles).
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `len` bytes: one from this
/// thread's pool when `len` fits a pooled buffer.
fn buffer_for(len: usize) -> Vec<u8> {
    if len > POOLED_CAPACITY {
        return Vec::with_capacity(len);
    }
    POOL.try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(POOLED_CAPACITY))
}

impl Drop for Packet {
    fn drop(&mut self) {
        if self.buf.capacity() != POOLED_CAPACITY {
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        // A thread being torn down has no pool any more: the buffer is
        // then simply freed.
        let _ = POOL.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                if p.len() < POOL_MAX {
                    p.push(buf);
                }
            }
        });
    }
}

impl Clone for Packet {
    fn clone(&self) -> Packet {
        let mut buf = buffer_for(self.buf.len());
        buf.extend_from_slice(&self.buf);
        Packet {
            buf,
            start: self.start,
            meta: self.meta,
            offload: self.offload,
        }
    }
}

impl AsRef<[u8]> for Packet {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl Packet {
    /// A packet holding a copy of `frame` with the default headroom.
    pub fn from_bytes(frame: &[u8]) -> Packet {
        let mut buf = buffer_for(DEFAULT_HEADROOM + frame.len());
        buf.resize(DEFAULT_HEADROOM, 0);
        buf.extend_from_slice(frame);
        Packet {
            buf,
            start: DEFAULT_HEADROOM,
            meta: PacketMeta::default(),
            offload: Offload::default(),
        }
    }

    /// A packet made of `buf`: `buf[..headroom]` is headroom, the rest the
    /// frame (a buffer a device received into, taken as it is).
    pub fn from_buffer(buf: Vec<u8>, headroom: usize) -> Packet {
        let start = headroom.min(buf.len());
        Packet {
            buf,
            start,
            meta: PacketMeta::default(),
            offload: Offload::default(),
        }
    }

    /// A packet of `len` zero bytes after `headroom` bytes of headroom, for
    /// devices that read straight into the buffer (then `truncate`).
    pub fn with_capacity(headroom: usize, len: usize) -> Packet {
        let total = headroom.saturating_add(len);
        let buf = if total > POOLED_CAPACITY {
            // Zeroed by the allocator (large buffers come zeroed from
            // the system).
            vec![0; total]
        } else {
            let mut buf = buffer_for(total);
            buf.resize(total, 0);
            buf
        };
        Packet {
            buf,
            start: headroom,
            meta: PacketMeta::default(),
            offload: Offload::default(),
        }
    }

    /// A packet of no bytes and no headroom (allocates nothing): what is
    /// left behind where a packet was taken out.
    pub fn empty() -> Packet {
        Packet {
            buf: Vec::new(),
            start: 0,
            meta: PacketMeta::default(),
            offload: Offload::default(),
        }
    }

    pub fn data(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        let start = self.start;
        self.buf.get_mut(start..).unwrap_or(&mut [])
    }

    pub fn len(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Shortens the frame to `len` bytes (no-op if already shorter).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(self.start.saturating_add(len));
    }

    /// Makes `n` more bytes at the front of the frame and returns the new
    /// frame; the new bytes are zero. Grows the buffer when the headroom is
    /// used up.
    pub fn push_front(&mut self, n: usize) -> &mut [u8] {
        if self.start < n {
            let grow = n - self.start + DEFAULT_HEADROOM;
            let mut buf = vec![0u8; grow];
            buf.extend_from_slice(&self.buf);
            self.buf = buf;
            self.start += grow;
        }
        self.start -= n;
        let start = self.start;
        if let Some(head) = self.buf.get_mut(start..start + n) {
            head.fill(0);
        }
        self.adjust_offload(n as isize);
        self.data_mut()
    }

    /// Removes `n` bytes from the front of the frame; returns false (and
    /// leaves the frame alone) when the frame is shorter than that.
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.start += n;
        self.adjust_offload(-(n as isize));
        true
    }

    /// Inserts `bytes` at offset `at` of the frame, moving the bytes before
    /// it to the front (what pushing a VLAN tag after the MACs needs).
    pub fn insert(&mut self, at: usize, bytes: &[u8]) -> bool {
        if at > self.len() {
            return false;
        }
        let n = bytes.len();
        self.push_front(n);
        let d = self.data_mut();
        d.copy_within(n..n + at, 0);
        if let Some(dst) = d.get_mut(at..at + n) {
            dst.copy_from_slice(bytes);
        }
        true
    }

    /// Removes `n` bytes at offset `at`, moving the bytes before them back.
    pub fn remove(&mut self, at: usize, n: usize) -> bool {
        if at.saturating_add(n) > self.len() {
            return false;
        }
        let d = self.data_mut();
        d.copy_within(0..at, n);
        self.pull_front(n)
    }

    fn adjust_offload(&mut self, delta: isize) {
        let shift = |v: u16| (v as isize + delta).clamp(0, u16::MAX as isize) as u16;
        if self.offload.csum_partial {
            self.offload.csum_start = shift(self.offload.csum_start);
        }
        if self.offload.hdr_len != 0 {
            self.offload.hdr_len = shift(self.offload.hdr_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_makes_the_same_packet_as_a_fresh_one() {
        let mut old = Packet::from_bytes(&[0xaa; 300]);
        old.push_front(40).fill(0xbb);
        old.meta.in_port = 7;
        let ptr = old.data().as_ptr() as usize;
        drop(old);
        let frame: Vec<u8> = (0..60u8).collect();
        let reused = Packet::from_bytes(&frame);
        // The pool gave the dropped packet's buffer back...
        let base = reused.buf.as_ptr() as usize;
        assert!(ptr >= base && ptr < base + POOLED_CAPACITY);
        // ...and nothing of the old packet shows: zeroed headroom, the new
        // frame, fresh metadata.
        assert_eq!(reused.data(), &frame[..]);
        assert_eq!(reused.headroom(), DEFAULT_HEADROOM);
        assert!(reused.buf[..DEFAULT_HEADROOM].iter().all(|b| *b == 0));
        assert_eq!(reused.meta, PacketMeta::default());
        let fresh = Packet {
            buf: [vec![0; DEFAULT_HEADROOM], frame.clone()].concat(),
            start: DEFAULT_HEADROOM,
            meta: PacketMeta::default(),
            offload: Offload::default(),
        };
        assert_eq!(reused, fresh);
        let twin = reused.clone();
        assert_eq!(twin, fresh);
        let zeroed = Packet::with_capacity(DEFAULT_HEADROOM, 60);
        assert!(zeroed.data().iter().all(|b| *b == 0));
        assert_eq!(zeroed.len(), 60);
    }

    #[test]
    fn large_frames_and_empty_packets_stay_out_of_the_pool() {
        let big = Packet::from_bytes(&[1; 4000]);
        assert_eq!(big.len(), 4000);
        assert_ne!(big.buf.capacity(), POOLED_CAPACITY);
        let empty = Packet::empty();
        assert!(empty.is_empty());
        assert_eq!(empty.buf.capacity(), 0);
        let big = Packet::with_capacity(DEFAULT_HEADROOM, 65536);
        assert!(big.data().iter().all(|b| *b == 0));
    }
}
