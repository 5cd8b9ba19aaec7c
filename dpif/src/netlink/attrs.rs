//! Netlink attributes of the OVS families: a writer that builds an
//! attribute stream (with nesting) and a checked reader over a received one.
//!
//! Keys, masks and actions cross the Dpif interface already encoded, so most
//! of what this provider writes is "wrap these bytes in attribute N"; the
//! reader only hands out bounds-checked slices and never panics on what the
//! kernel (or anyone else on the socket) sent.

use netlink_packet_core::{NlasIterator, NLA_ALIGNTO, NLA_HEADER_SIZE};

use crate::{DpifError, Result};

fn align(len: usize) -> usize {
    (len + NLA_ALIGNTO - 1) & !(NLA_ALIGNTO - 1)
}

/// Builds a stream of netlink attributes. An attribute too large for the
/// 16-bit length field is remembered and reported by [`AttrWriter::finish`],
/// so that callers can chain `put`s without checking each one.
#[derive(Debug, Default)]
pub struct AttrWriter {
    buf: Vec<u8>,
    too_big: bool,
}

impl AttrWriter {
    pub fn new() -> Self {
        AttrWriter::default()
    }

    /// Starts with the OVS families' fixed header, `struct ovs_header`.
    pub fn with_ovs_header(dp_ifindex: i32) -> Self {
        AttrWriter {
            buf: dp_ifindex.to_ne_bytes().to_vec(),
            too_big: false,
        }
    }

    pub fn put(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        let Ok(len) = u16::try_from(NLA_HEADER_SIZE + value.len()) else {
            self.too_big = true;
            return self;
        };
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn put_u8(&mut self, kind: u16, v: u8) -> &mut Self {
        self.put(kind, &[v])
    }

    pub fn put_u16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.put(kind, &v.to_ne_bytes())
    }

    pub fn put_u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.put(kind, &v.to_ne_bytes())
    }

    pub fn put_flag(&mut self, kind: u16) -> &mut Self {
        self.put(kind, &[])
    }

    /// A NUL-terminated string, as the kernel's NLA_NUL_STRING wants.
    pub fn put_str(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.put(kind, &v)
    }

    /// An array of u32, e.g. upcall PIDs.
    pub fn put_u32s(&mut self, kind: u16, vs: &[u32]) -> &mut Self {
        let bytes: Vec<u8> = vs.iter().flat_map(|v| v.to_ne_bytes()).collect();
        self.put(kind, &bytes)
    }

    /// Opens a nested attribute; close it with [`AttrWriter::end_nested`].
    pub fn begin_nested(&mut self, kind: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        start
    }

    pub fn end_nested(&mut self, start: usize) -> &mut Self {
        match u16::try_from(self.buf.len() - start) {
            Ok(len) => self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes()),
            Err(_) => self.too_big = true,
        }
        self
    }

    /// The stream, or EMSGSIZE if an attribute did not fit.
    pub fn finish(self) -> Result<Vec<u8>> {
        if self.too_big {
            Err(DpifError::new(
                libc::EMSGSIZE,
                "netlink attribute too large (over 64 kB)",
            ))
        } else {
            Ok(self.buf)
        }
    }
}

/// The attributes of a received message, checked once, looked up by type.
#[derive(Debug, Clone, Default)]
pub struct Attrs<'a> {
    items: Vec<(u16, &'a [u8])>,
}

fn malformed(what: &str) -> DpifError {
    DpifError::new(libc::EPROTO, format!("malformed netlink message: {what}"))
}

impl<'a> Attrs<'a> {
    /// Splits `buf` into attributes; fails on any truncated or overlong one.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut items = Vec::new();
        for nla in NlasIterator::new(buf) {
            let nla = nla.map_err(|e| malformed(&e.to_string()))?;
            let (kind, len) = (nla.kind(), usize::from(nla.length()));
            let value = nla
                .into_inner()
                .get(NLA_HEADER_SIZE..len)
                .ok_or_else(|| malformed("attribute length"))?;
            items.push((kind, value));
        }
        Ok(Attrs { items })
    }

    /// The value of the first attribute of type `kind`.
    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.items.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v)
    }

    pub fn has(&self, kind: u16) -> bool {
        self.get(kind).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u16, &'a [u8])> + '_ {
        self.items.iter().copied()
    }

    fn fixed<const N: usize>(&self, kind: u16, what: &str) -> Result<Option<[u8; N]>> {
        match self.get(kind) {
            None => Ok(None),
            Some(v) => v
                .get(..N)
                .and_then(|b| <[u8; N]>::try_from(b).ok())
                .map(Some)
                .ok_or_else(|| malformed(&format!("{what} shorter than {N} bytes"))),
        }
    }

    pub fn u8(&self, kind: u16, what: &str) -> Result<Option<u8>> {
        Ok(self.fixed::<1>(kind, what)?.map(|b| b[0]))
    }

    pub fn u16(&self, kind: u16, what: &str) -> Result<Option<u16>> {
        Ok(self.fixed::<2>(kind, what)?.map(u16::from_ne_bytes))
    }

    pub fn u32(&self, kind: u16, what: &str) -> Result<Option<u32>> {
        Ok(self.fixed::<4>(kind, what)?.map(u32::from_ne_bytes))
    }

    pub fn u64(&self, kind: u16, what: &str) -> Result<Option<u64>> {
        Ok(self.fixed::<8>(kind, what)?.map(u64::from_ne_bytes))
    }

    /// A string attribute, up to its first NUL.
    pub fn string(&self, kind: u16, what: &str) -> Result<Option<String>> {
        match self.get(kind) {
            None => Ok(None),
            Some(v) => {
                let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
                String::from_utf8(v[..end].to_vec())
                    .map(Some)
                    .map_err(|_| malformed(&format!("{what} is not UTF-8")))
            }
        }
    }

    /// An array of u32 (trailing bytes that do not make a whole u32 are an
    /// error).
    pub fn u32s(&self, kind: u16, what: &str) -> Result<Option<Vec<u32>>> {
        match self.get(kind) {
            None => Ok(None),
            Some(v) if v.len() % 4 != 0 => Err(malformed(&format!("{what} length {}", v.len()))),
            Some(v) => Ok(Some(
                v.chunks_exact(4)
                    .filter_map(|c| <[u8; 4]>::try_from(c).ok())
                    .map(u32::from_ne_bytes)
                    .collect(),
            )),
        }
    }
}

/// Reads native-endian u64 number `index` of a stats struct, 0 if short.
pub fn stat_u64(bytes: &[u8], index: usize) -> u64 {
    bytes
        .get(index * 8..index * 8 + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_ne_bytes)
        .unwrap_or(0)
}

/// Splits the OVS families' `struct ovs_header` off a message body.
pub fn split_ovs_header(body: &[u8]) -> Result<(i32, &[u8])> {
    let head = body
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .ok_or_else(|| malformed("message shorter than struct ovs_header"))?;
    Ok((i32::from_ne_bytes(head), &body[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let mut w = AttrWriter::with_ovs_header(7);
        w.put_str(1, "dp0").put_u32(2, 0xdead_beef).put_flag(9);
        let n = w.begin_nested(4);
        w.put_u16(1, 4789);
        w.end_nested(n);
        let bytes = w.finish().unwrap();
        let (ifindex, rest) = split_ovs_header(&bytes).unwrap();
        assert_eq!(ifindex, 7);
        let attrs = Attrs::parse(rest).unwrap();
        assert_eq!(attrs.string(1, "name").unwrap().as_deref(), Some("dp0"));
        assert_eq!(attrs.u32(2, "x").unwrap(), Some(0xdead_beef));
        assert!(attrs.has(9));
        let nested = Attrs::parse(attrs.get(4).unwrap()).unwrap();
        assert_eq!(nested.u16(1, "port").unwrap(), Some(4789));
        assert_eq!(attrs.u32(3, "absent").unwrap(), None);
    }

    #[test]
    fn rejects_truncated_and_short_values() {
        // Attribute claiming 12 bytes in an 8-byte buffer.
        let bad = [12u8, 0, 1, 0, 1, 2, 3, 4];
        assert_eq!(Attrs::parse(&bad).unwrap_err().errno, libc::EPROTO);
        // A u32 attribute with only 2 bytes of value.
        let short = [6u8, 0, 2, 0, 1, 2, 0, 0];
        let attrs = Attrs::parse(&short).unwrap();
        assert_eq!(attrs.u32(2, "x").unwrap_err().errno, libc::EPROTO);
        assert!(split_ovs_header(&[1, 2]).is_err());
    }

    #[test]
    fn oversized_attribute_is_an_error_not_a_panic() {
        let mut w = AttrWriter::new();
        w.put(1, &vec![0u8; 70_000]);
        assert_eq!(w.finish().unwrap_err().errno, libc::EMSGSIZE);
    }
}
