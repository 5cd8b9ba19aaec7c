//! `tnl_push`: the userspace datapath's tunnel encapsulation action. It
//! carries a ready-made outer header (Ethernet, IPv4 or IPv6, then UDP with
//! VXLAN, Geneve or GTP-U, or GRE, or ERSPAN) that is prepended to the
//! packet. Never sent to the kernel.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::key_text::{port_name, FormatOptions};
use super::scan::*;
use super::tunnel_text::{format_geneve, scan_geneve};
use super::{OdpError, Result};

/// Largest header the action may carry (`TNL_PUSH_HEADER_SIZE`).
pub const TNL_PUSH_HEADER_SIZE: usize = 512;

// `OVS_VPORT_TYPE_*` values of the tunnel kinds.
pub const VPORT_GRE: u32 = 3;
pub const VPORT_VXLAN: u32 = 4;
pub const VPORT_GENEVE: u32 = 5;
pub const VPORT_ERSPAN: u32 = 107;
pub const VPORT_IP6ERSPAN: u32 = 108;
pub const VPORT_IP6GRE: u32 = 109;
pub const VPORT_GTPU: u32 = 110;

const GRE_CSUM: u16 = 0x8000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQ: u16 = 0x1000;
const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_ERSPAN1: u16 = 0x88be;
const ETH_TYPE_ERSPAN2: u16 = 0x22eb;

/// `struct ovs_action_push_tnl` without its padding: the header is exactly
/// `header.len()` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelPush {
    pub tnl_port: u32,
    pub out_port: u32,
    /// `OVS_VPORT_TYPE_*` of the tunnel (for logging and printing).
    pub tnl_type: u32,
    pub header: Vec<u8>,
}

impl TunnelPush {
    pub fn decode(p: &[u8]) -> Result<TunnelPush> {
        let w = |i: usize| -> u32 {
            let b = &p[i..i + 4];
            u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
        };
        if p.len() < 16 {
            return Err(OdpError::new("tnl_push action too short"));
        }
        let header_len = w(8) as usize;
        if header_len > TNL_PUSH_HEADER_SIZE || p.len() != 16 + header_len {
            return Err(OdpError::new(format!(
                "tnl_push header length {header_len} does not match action size {}",
                p.len()
            )));
        }
        Ok(TunnelPush {
            tnl_port: w(0),
            out_port: w(4),
            tnl_type: w(12),
            header: p[16..].to_vec(),
        })
    }

    pub fn payload(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.header.len());
        b.extend_from_slice(&self.tnl_port.to_ne_bytes());
        b.extend_from_slice(&self.out_port.to_ne_bytes());
        b.extend_from_slice(&(self.header.len() as u32).to_ne_bytes());
        b.extend_from_slice(&self.tnl_type.to_ne_bytes());
        b.extend_from_slice(&self.header);
        b
    }
}

/// Reads the header without ever indexing past its end (missing bytes
/// read as zero), so that hostile headers print as something, not panic.
struct Hdr<'a>(&'a [u8]);

impl Hdr<'_> {
    fn u8(&self, i: usize) -> u8 {
        self.0.get(i).copied().unwrap_or(0)
    }
    fn be16(&self, i: usize) -> u16 {
        u16::from_be_bytes([self.u8(i), self.u8(i + 1)])
    }
    fn be32(&self, i: usize) -> u32 {
        u32::from_be_bytes([self.u8(i), self.u8(i + 1), self.u8(i + 2), self.u8(i + 3)])
    }
    fn mac(&self, i: usize) -> [u8; 6] {
        let mut m = [0u8; 6];
        for (k, b) in m.iter_mut().enumerate() {
            *b = self.u8(i + k);
        }
        m
    }
    fn v4(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::from(self.be32(i))
    }
    fn v6(&self, i: usize) -> Ipv6Addr {
        let mut a = [0u8; 16];
        for (k, b) in a.iter_mut().enumerate() {
            *b = self.u8(i + k);
        }
        Ipv6Addr::from(a)
    }
}

fn format_udp(out: &mut String, h: &Hdr<'_>, l4: usize) {
    let _ = write!(
        out,
        "udp(src={},dst={},csum=0x{:x}),",
        h.be16(l4),
        h.be16(l4 + 2),
        h.be16(l4 + 6)
    );
}

/// Prints the action as `format_odp_tnl_push_action` does.
pub fn format_tnl_push(out: &mut String, t: &TunnelPush, opts: &FormatOptions<'_>) {
    let h = Hdr(&t.header);
    out.push_str("tnl_push(tnl_port(");
    port_name(out, t.tnl_port, opts);
    out.push_str("),");
    let dl_type = h.be16(12);
    let _ = write!(
        out,
        "header(size={},type={},eth(dst={},src={},dl_type=0x{:04x}),",
        t.header.len(),
        t.tnl_type,
        fmt_mac(&h.mac(0)),
        fmt_mac(&h.mac(6)),
        dl_type
    );
    let l3 = 14;
    let l4 = if dl_type == ETH_TYPE_IP {
        let _ = write!(
            out,
            "ipv4(src={},dst={},proto={},tos={},ttl={},frag=0x{:x}),",
            h.v4(l3 + 12),
            h.v4(l3 + 16),
            h.u8(l3 + 9),
            hx(h.u8(l3 + 1).into()),
            h.u8(l3 + 8),
            h.be16(l3 + 6)
        );
        l3 + 20
    } else {
        let flow = h.be32(l3);
        let _ = write!(
            out,
            "ipv6(src={},dst={},label={},proto={},tclass=0x{:x},hlimit={}),",
            fmt_ipv6(&h.v6(l3 + 8)),
            fmt_ipv6(&h.v6(l3 + 24)),
            flow & 0xfffff,
            h.u8(l3 + 6),
            (flow >> 20) & 0xff,
            h.u8(l3 + 7)
        );
        l3 + 40
    };
    match t.tnl_type {
        VPORT_VXLAN => {
            format_udp(out, &h, l4);
            let _ = write!(
                out,
                "vxlan(flags=0x{:x},vni=0x{:x})",
                h.be32(l4 + 8),
                h.be32(l4 + 12) >> 8
            );
        }
        VPORT_GENEVE => {
            format_udp(out, &h, l4);
            let g = l4 + 8;
            out.push_str("geneve(");
            if h.u8(g + 1) & 0x80 != 0 {
                out.push_str("oam,");
            }
            if h.u8(g + 1) & 0x40 != 0 {
                out.push_str("crit,");
            }
            let _ = write!(out, "vni=0x{:x}", h.be32(g + 4) >> 8);
            let opt_len = usize::from(h.u8(g) & 0x3f) * 4;
            if opt_len > 0 {
                out.push_str(",options(");
                let opts: Vec<u8> = (0..opt_len).map(|k| h.u8(g + 8 + k)).collect();
                format_geneve(out, &opts, None, false);
                out.push(')');
            }
            out.push(')');
        }
        VPORT_GRE | VPORT_IP6GRE => {
            let flags = h.be16(l4);
            let _ = write!(
                out,
                "gre((flags=0x{:x},proto=0x{:x})",
                flags,
                h.be16(l4 + 2)
            );
            let mut o = l4 + 4;
            if flags & GRE_CSUM != 0 {
                let _ = write!(out, ",csum=0x{:x}", h.be16(o));
                o += 4;
            }
            if flags & GRE_KEY != 0 {
                let _ = write!(out, ",key=0x{:x}", h.be32(o));
                o += 4;
            }
            if flags & GRE_SEQ != 0 {
                let _ = write!(out, ",seq=0x{:x}", h.be32(o));
            }
            out.push(')');
        }
        VPORT_ERSPAN | VPORT_IP6ERSPAN => {
            let e = l4 + 8;
            let ver = h.u8(e) >> 4;
            let sid = (u16::from(h.u8(e + 2) & 3) << 8) + u16::from(h.u8(e + 3));
            if ver == 1 {
                let _ = write!(
                    out,
                    "erspan(ver=1,sid=0x{:x},idx=0x{:x})",
                    sid,
                    h.be32(e + 4)
                );
            } else if ver == 2 {
                let md = e + 4;
                let dir = (h.u8(md + 7) >> 3) & 1;
                let hwid = ((h.u8(md + 6) & 3) << 4) + (h.u8(md + 7) >> 4);
                let _ = write!(out, "erspan(ver=2,sid=0x{sid:x},dir={dir},hwid=0x{hwid:x})");
            }
        }
        VPORT_GTPU => {
            format_udp(out, &h, l4);
            let g = l4 + 8;
            let _ = write!(
                out,
                "gtpu(flags=0x{:x},msgtype={},teid=0x{:x})",
                h.u8(g),
                h.u8(g + 1),
                h.be32(g + 4)
            );
        }
        _ => {}
    }
    out.push(')');
    out.push_str(",out_port(");
    port_name(out, t.out_port, opts);
    out.push_str("))");
}

fn err() -> OdpError {
    OdpError::new("syntax error in tnl_push")
}

/// A small cursor for the fixed tnl_push syntax.
struct Cur<'a> {
    s: &'a str,
    i: usize,
}

impl Cur<'_> {
    fn lit(&mut self, l: &str) -> Result<()> {
        if self.s[self.i..].starts_with(l) {
            self.i += l.len();
            Ok(())
        } else {
            Err(err())
        }
    }
    fn try_lit(&mut self, l: &str) -> bool {
        self.lit(l).is_ok()
    }
    fn int(&mut self) -> Result<u64> {
        let (v, n) = scan_int(&self.s[self.i..]).ok_or_else(err)?;
        self.i += n;
        Ok(v)
    }
    fn port(&mut self, names: Option<&HashMap<String, u32>>) -> Result<u32> {
        let (v, n) = super::action_parse::scan_port(&self.s[self.i..], names).ok_or_else(err)?;
        self.i += n;
        Ok(v as u32)
    }
    fn hex(&mut self) -> Result<u64> {
        let (v, n) = scan_hex(&self.s[self.i..]).ok_or_else(err)?;
        self.i += n;
        Ok(v)
    }
    fn mac(&mut self) -> Result<[u8; 6]> {
        let (v, n) = scan_mac_addr(&self.s[self.i..]).ok_or_else(err)?;
        self.i += n;
        Ok(v)
    }
    fn v4(&mut self) -> Result<Ipv4Addr> {
        let (v, n) = scan_ipv4_addr(&self.s[self.i..]).ok_or_else(err)?;
        self.i += n;
        Ok(v)
    }
    fn v6(&mut self) -> Result<Ipv6Addr> {
        let (v, n) = scan_ipv6_addr(&self.s[self.i..]).ok_or_else(err)?;
        self.i += n;
        Ok(v)
    }
}

/// The Internet checksum of an IPv4 header.
fn ip_csum(h: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Parses `tnl_push(...)` (the whole action); returns it and the length
/// consumed. Ports may be given by name when `names` maps them.
pub fn parse_tnl_push(
    s: &str,
    names: Option<&HashMap<String, u32>>,
) -> Result<(TunnelPush, usize)> {
    let mut c = Cur { s, i: 0 };
    c.lit("tnl_push(tnl_port(")?;
    let tnl_port = c.port(names)?;
    c.lit("),header(size=")?;
    let size = c.int()? as usize;
    // Checked before it sizes a buffer: text may say any number.
    if size > TNL_PUSH_HEADER_SIZE {
        return Err(OdpError::new(format!(
            "tnl_push header size {size} is over {TNL_PUSH_HEADER_SIZE}"
        )));
    }
    c.lit(",type=")?;
    let ty = c.int()? as u32;
    c.lit(",eth(dst=")?;
    let mut h = Vec::with_capacity(size);
    let dst = c.mac()?;
    c.lit(",src=")?;
    let src = c.mac()?;
    c.lit(",dl_type=0x")?;
    let dl_type = c.hex()? as u16;
    c.lit("),")?;
    h.extend_from_slice(&dst);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dl_type.to_be_bytes());
    let is_v4 = dl_type == ETH_TYPE_IP;
    if is_v4 {
        c.lit("ipv4(src=")?;
        let sip = c.v4()?;
        c.lit(",dst=")?;
        let dip = c.v4()?;
        c.lit(",proto=")?;
        let proto = c.int()? as u8;
        c.lit(",tos=")?;
        let tos = c.int()? as u8;
        c.lit(",ttl=")?;
        let ttl = c.int()? as u8;
        c.lit(",frag=0x")?;
        let frag = c.hex()? as u16;
        c.lit("),")?;
        let mut ip = vec![0x45, tos, 0, 0, 0, 0];
        ip.extend_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&[ttl, proto, 0, 0]);
        ip.extend_from_slice(&sip.octets());
        ip.extend_from_slice(&dip.octets());
        let sum = ip_csum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        h.extend_from_slice(&ip);
    } else {
        c.lit("ipv6(src=")?;
        let sip = c.v6()?;
        c.lit(",dst=")?;
        let dip = c.v6()?;
        c.lit(",label=")?;
        let label = c.int()? as u32;
        c.lit(",proto=")?;
        let proto = c.int()? as u8;
        c.lit(",tclass=0x")?;
        let tclass = c.hex()? as u32 & 0xff;
        c.lit(",hlimit=")?;
        let hlim = c.int()? as u8;
        c.lit("),")?;
        if label & !0xfffff != 0 {
            return Err(err());
        }
        h.extend_from_slice(&((6u32 << 28) | (tclass << 20) | label).to_be_bytes());
        h.extend_from_slice(&[0, 0, proto, hlim]);
        h.extend_from_slice(&sip.octets());
        h.extend_from_slice(&dip.octets());
    }
    let computed_type;
    if c.try_lit("udp(src=") {
        let sport = c.int()? as u16;
        c.lit(",dst=")?;
        let dport = c.int()? as u16;
        c.lit(",csum=0x")?;
        let csum = c.hex()? as u16;
        c.lit("),")?;
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&dport.to_be_bytes());
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(&csum.to_be_bytes());
        if c.try_lit("vxlan(flags=0x") {
            let flags = c.hex()? as u32;
            c.lit(",vni=0x")?;
            let vni = c.hex()? as u32;
            c.lit("))")?;
            h.extend_from_slice(&flags.to_be_bytes());
            h.extend_from_slice(&(vni << 8).to_be_bytes());
            computed_type = VPORT_VXLAN;
        } else if c.try_lit("geneve(") {
            let oam = c.try_lit("oam,");
            let crit = c.try_lit("crit,");
            c.lit("vni=")?;
            let vni = c.int()? as u32;
            let mut opts = Vec::new();
            if c.try_lit(",options(") {
                let (k, _m, n) = scan_geneve(&s[c.i..])?;
                opts = k;
                c.i += n;
            }
            c.lit("))")?;
            h.push((opts.len() / 4) as u8 & 0x3f);
            h.push(if oam { 0x80 } else { 0 } | if crit { 0x40 } else { 0 });
            h.extend_from_slice(&0x6558u16.to_be_bytes());
            h.extend_from_slice(&(vni << 8).to_be_bytes());
            h.extend_from_slice(&opts);
            computed_type = VPORT_GENEVE;
        } else if c.try_lit("gtpu(flags=") {
            let flags = c.int()? as u8;
            c.lit(",msgtype=")?;
            let msgtype = c.int()? as u8;
            c.lit(",teid=0x")?;
            let teid = c.hex()? as u32;
            c.lit("))")?;
            h.extend_from_slice(&[flags, msgtype, 0, 0]);
            h.extend_from_slice(&teid.to_be_bytes());
            computed_type = VPORT_GTPU;
        } else {
            return Err(err());
        }
    } else if c.try_lit("gre((flags=0x") {
        let flags = c.hex()? as u16;
        c.lit(",proto=0x")?;
        let proto = c.hex()? as u16;
        c.lit(")")?;
        h.extend_from_slice(&flags.to_be_bytes());
        h.extend_from_slice(&proto.to_be_bytes());
        if flags & GRE_CSUM != 0 {
            c.lit(",csum=0x")?;
            let v = c.hex()? as u16;
            h.extend_from_slice(&v.to_be_bytes());
            h.extend_from_slice(&[0, 0]);
        }
        if flags & GRE_KEY != 0 {
            c.lit(",key=0x")?;
            h.extend_from_slice(&(c.hex()? as u32).to_be_bytes());
        }
        if flags & GRE_SEQ != 0 {
            c.lit(",seq=0x")?;
            h.extend_from_slice(&(c.hex()? as u32).to_be_bytes());
        }
        c.lit("))")?;
        computed_type = if is_v4 { VPORT_GRE } else { VPORT_IP6GRE };
    } else if c.try_lit("erspan(ver=") {
        let ver = c.int()?;
        c.lit(",sid=0x")?;
        let sid = c.hex()? as u16;
        let proto = if ver == 1 {
            ETH_TYPE_ERSPAN1
        } else {
            ETH_TYPE_ERSPAN2
        };
        h.extend_from_slice(&GRE_SEQ.to_be_bytes());
        h.extend_from_slice(&proto.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0]);
        let base = [(ver as u8) << 4, 0, (sid >> 8) as u8 & 3, sid as u8];
        h.extend_from_slice(&base);
        match ver {
            1 => {
                c.lit(",idx=0x")?;
                h.extend_from_slice(&(c.hex()? as u32).to_be_bytes());
            }
            2 => {
                c.lit(",dir=")?;
                let dir = c.int()? as u8 & 1;
                c.lit(",hwid=0x")?;
                let hwid = c.hex()? as u8;
                h.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
                h.push((hwid >> 4) & 3);
                h.push(((hwid & 0xf) << 4) | (dir << 3));
            }
            _ => return Err(err()),
        }
        c.lit("))")?;
        computed_type = if is_v4 { VPORT_ERSPAN } else { VPORT_IP6ERSPAN };
    } else {
        return Err(err());
    }
    if computed_type != ty || h.len() != size {
        return Err(OdpError::new(format!(
            "tnl_push header says type {ty} size {size}, but describes type {computed_type} size {}",
            h.len()
        )));
    }
    c.lit(",out_port(")?;
    let out_port = c.port(names)?;
    c.lit("))")?;
    Ok((
        TunnelPush {
            tnl_port,
            out_port,
            tnl_type: ty,
            header: h,
        },
        c.i,
    ))
}
