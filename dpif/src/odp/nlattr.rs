//! A small netlink attribute reader and writer.
//!
//! An attribute is a 4-byte header (`nla_len: u16`, `nla_type: u16`, both in
//! host byte order) followed by `nla_len - 4` payload bytes, padded to a
//! multiple of 4. The top two bits of `nla_type` are flags
//! (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`); the Open vSwitch families do not
//! rely on them, so the reader masks them off and the writer never sets them,
//! as the kernel module and ovs-vswitchd do.

use super::{OdpError, Result};

pub const NLA_HDRLEN: usize = 4;
pub const NLA_F_NESTED: u16 = 0x8000;
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// Rounds `len` up to the netlink alignment of 4 bytes.
pub const fn nla_align(len: usize) -> usize {
    (len + 3) & !3
}

/// One attribute, borrowed from the buffer it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlAttr<'a> {
    /// The type with the flag bits masked off.
    pub ty: u16,
    pub payload: &'a [u8],
}

impl<'a> NlAttr<'a> {
    pub fn u8(&self) -> Result<u8> {
        Ok(self.fixed::<1>()?[0])
    }
    pub fn u16_ne(&self) -> Result<u16> {
        Ok(u16::from_ne_bytes(self.fixed()?))
    }
    pub fn u16_be(&self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.fixed()?))
    }
    pub fn u32_ne(&self) -> Result<u32> {
        Ok(u32::from_ne_bytes(self.fixed()?))
    }
    pub fn u32_be(&self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.fixed()?))
    }
    pub fn u64_be(&self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.fixed()?))
    }
    /// The payload as an array of exactly `N` bytes.
    pub fn fixed<const N: usize>(&self) -> Result<[u8; N]> {
        self.payload.try_into().map_err(|_| {
            OdpError::new(format!(
                "attribute {} has length {}, expected {}",
                self.ty,
                self.payload.len(),
                N
            ))
        })
    }
    /// The attributes nested inside this one.
    pub fn nested(&self) -> NlAttrIter<'a> {
        NlAttrIter::new(self.payload)
    }
}

/// Iterates over a stream of attributes; yields an error (once) when the
/// stream is malformed and stops.
#[derive(Debug, Clone)]
pub struct NlAttrIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> NlAttrIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        NlAttrIter {
            rest: buf,
            failed: false,
        }
    }
}

impl<'a> Iterator for NlAttrIter<'a> {
    type Item = Result<NlAttr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let hdr: Option<[u8; 4]> = self.rest.get(..4).and_then(|h| h.try_into().ok());
        let Some(hdr) = hdr else {
            self.failed = true;
            return Some(Err(OdpError::new(format!(
                "{} leftover bytes after the last attribute",
                self.rest.len()
            ))));
        };
        let len = u16::from_ne_bytes([hdr[0], hdr[1]]) as usize;
        let ty = u16::from_ne_bytes([hdr[2], hdr[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > self.rest.len() {
            self.failed = true;
            return Some(Err(OdpError::new(format!(
                "attribute {ty} has bad length {len} ({} bytes left)",
                self.rest.len()
            ))));
        }
        let payload = &self.rest[NLA_HDRLEN..len];
        let step = nla_align(len).min(self.rest.len());
        self.rest = &self.rest[step..];
        Some(Ok(NlAttr { ty, payload }))
    }
}

/// Parses a whole stream into a vector of attributes.
pub fn parse_all(buf: &[u8]) -> Result<Vec<NlAttr<'_>>> {
    NlAttrIter::new(buf).collect()
}

/// Builds a stream of attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NlWriter {
    pub buf: Vec<u8>,
    /// Set when some attribute grew beyond what `nla_len` can express.
    oversized: bool,
}

impl NlWriter {
    pub fn new() -> Self {
        NlWriter {
            buf: Vec::new(),
            oversized: false,
        }
    }

    /// A writer with room for `bytes` of attributes (a whole key, say,
    /// without growing a doubling at a time).
    pub fn with_capacity(bytes: usize) -> Self {
        NlWriter {
            buf: Vec::with_capacity(bytes),
            oversized: false,
        }
    }

    /// The encoded stream, or an error if an attribute was too large.
    pub fn finish(self) -> Result<Vec<u8>> {
        if self.oversized {
            Err(OdpError::new("attribute too large for netlink"))
        } else {
            Ok(self.buf)
        }
    }

    /// Appends an attribute with the given payload (padded with zeros).
    pub fn put(&mut self, ty: u16, payload: &[u8]) {
        let len = NLA_HDRLEN + payload.len();
        self.oversized |= len > 0xffff;
        self.buf
            .extend_from_slice(&(len.min(0xffff) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    /// Appends an attribute whose payload `fill` writes in place (as
    /// `put`, without building the payload apart first).
    pub fn put_with(&mut self, ty: u16, fill: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; NLA_HDRLEN]);
        fill(&mut self.buf);
        let len = self.buf.len() - start;
        self.oversized |= len > 0xffff;
        let mut hdr = [0u8; NLA_HDRLEN];
        hdr[..2].copy_from_slice(&(len.min(0xffff) as u16).to_ne_bytes());
        hdr[2..].copy_from_slice(&ty.to_ne_bytes());
        self.buf[start..start + NLA_HDRLEN].copy_from_slice(&hdr);
        self.pad();
    }

    pub fn put_flag(&mut self, ty: u16) {
        self.put(ty, &[]);
    }
    pub fn put_u8(&mut self, ty: u16, v: u8) {
        self.put(ty, &[v]);
    }
    pub fn put_u16_ne(&mut self, ty: u16, v: u16) {
        self.put(ty, &v.to_ne_bytes());
    }
    pub fn put_u16_be(&mut self, ty: u16, v: u16) {
        self.put(ty, &v.to_be_bytes());
    }
    pub fn put_u32_ne(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_ne_bytes());
    }
    pub fn put_u32_be(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_be_bytes());
    }
    pub fn put_u64_be(&mut self, ty: u16, v: u64) {
        self.put(ty, &v.to_be_bytes());
    }

    /// Starts a nested attribute; returns the offset to give to `end_nested`.
    pub fn start_nested(&mut self, ty: u16) -> usize {
        let ofs = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        ofs
    }

    /// Finishes the nested attribute started at `ofs`.
    pub fn end_nested(&mut self, ofs: usize) {
        let len = self.buf.len() - ofs;
        self.oversized |= len > 0xffff;
        let len = len.min(0xffff) as u16;
        if let Some(slot) = self.buf.get_mut(ofs..ofs + 2) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
        self.pad();
    }

    /// Appends a nested attribute whose payload is already encoded.
    pub fn put_nested(&mut self, ty: u16, inner: &[u8]) {
        self.put(ty, inner);
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}
