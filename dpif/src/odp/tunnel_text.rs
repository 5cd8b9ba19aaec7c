//! The text form of tunnel keys: `tunnel(tun_id=0x5,src=...,flags(df|key))`,
//! printed and parsed.

use std::fmt::Write;

use super::consts::*;
use super::key_text::*;
use super::scan::*;
use super::tunnel::{TunnelAttr, VxlanAttr};
use super::{OdpError, Result};

fn err() -> OdpError {
    OdpError::new("syntax error in tunnel key")
}

/// Parses the inside of `tunnel(...)` (text after the opening parenthesis)
/// into key and mask attributes; returns them and the length consumed,
/// closing parenthesis included.
pub(crate) fn parse_tunnel(s: &str) -> Result<(Vec<TunnelAttr>, Vec<TunnelAttr>, usize)> {
    use TunnelAttr::*;
    let mut key = Vec::new();
    let mut mask = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let r = &s[i..];
        let mut len = 0;
        let mut put = |k: TunnelAttr, m: TunnelAttr| {
            key.push(k);
            mask.push(m);
        };
        let scanned: Option<usize> = if let Some(t) = r.strip_prefix("tun_id=") {
            let (v, m, n) = scan_masked(t, u64::MAX).ok_or_else(err)?;
            put(Id(v), Id(m));
            Some(7 + n)
        } else if let Some(t) = r.strip_prefix("src=") {
            let (v, m, n) = scan_ipv4(t).ok_or_else(err)?;
            put(Ipv4Src(v), Ipv4Src(m));
            Some(4 + n)
        } else if let Some(t) = r.strip_prefix("dst=") {
            let (v, m, n) = scan_ipv4(t).ok_or_else(err)?;
            put(Ipv4Dst(v), Ipv4Dst(m));
            Some(4 + n)
        } else if let Some(t) = r.strip_prefix("ipv6_src=") {
            let (v, m, n) = scan_in6(t).ok_or_else(err)?;
            put(Ipv6Src(v), Ipv6Src(m));
            Some(9 + n)
        } else if let Some(t) = r.strip_prefix("ipv6_dst=") {
            let (v, m, n) = scan_in6(t).ok_or_else(err)?;
            put(Ipv6Dst(v), Ipv6Dst(m));
            Some(9 + n)
        } else if let Some(t) = r.strip_prefix("tos=") {
            let (v, m, n) = scan_masked(t, 0xff).ok_or_else(err)?;
            put(Tos(v as u8), Tos(m as u8));
            Some(4 + n)
        } else if let Some(t) = r.strip_prefix("ttl=") {
            let (v, m, n) = scan_masked(t, 0xff).ok_or_else(err)?;
            put(Ttl(v as u8), Ttl(m as u8));
            Some(4 + n)
        } else if let Some(t) = r.strip_prefix("tp_src=") {
            let (v, m, n) = scan_masked(t, 0xffff).ok_or_else(err)?;
            put(TpSrc(v as u16), TpSrc(m as u16));
            Some(7 + n)
        } else if let Some(t) = r.strip_prefix("tp_dst=") {
            let (v, m, n) = scan_masked(t, 0xffff).ok_or_else(err)?;
            put(TpDst(v as u16), TpDst(m as u16));
            Some(7 + n)
        } else if let Some(t) = r.strip_prefix("erspan(") {
            let (k, m, n) = scan_erspan(t)?;
            put(ErspanOpts(k), ErspanOpts(m));
            Some(7 + n)
        } else if let Some(t) = r.strip_prefix("vxlan(gbp(") {
            let (k, m, n) = scan_vxlan_gbp(t)?;
            key.extend(gbp_attr(k));
            mask.extend(gbp_attr(m));
            Some(10 + n)
        } else if let Some(t) = r.strip_prefix("geneve(") {
            let (k, m, n) = scan_geneve(t)?;
            put(GeneveOpts(k), GeneveOpts(m));
            Some(7 + n)
        } else if let Some(t) = r.strip_prefix("gtpu(") {
            let (k, m, n) = scan_gtpu(t)?;
            put(GtpuOpts(k), GtpuOpts(m));
            Some(5 + n)
        } else if let Some(t) = r.strip_prefix("flags(") {
            let (f, m, n) =
                parse_flags(t, tun_flag_name, b')', TNL_F_MASK, true).ok_or_else(err)?;
            if t.as_bytes().get(n) != Some(&b')') {
                return Err(err());
            }
            key.extend(flag_attrs(f));
            mask.extend(flag_attrs(m & 0xffff));
            Some(6 + n + 1)
        } else {
            None
        };
        if let Some(n) = scanned {
            i += n;
            len = n;
        }
        let c = b.get(i).copied();
        i += 1;
        if c == Some(b',') && len != 0 {
            continue;
        }
        if c != Some(b')') {
            return Err(err());
        }
        super::tunnel::check_one_options_block(&key)?;
        return Ok((key, mask, i));
    }
}

fn flag_attrs(flags: u32) -> Vec<TunnelAttr> {
    let mut v = Vec::new();
    if flags & TNL_F_DONT_FRAGMENT != 0 {
        v.push(TunnelAttr::DontFragment);
    }
    if flags & TNL_F_CSUM != 0 {
        v.push(TunnelAttr::Csum);
    }
    if flags & TNL_F_OAM != 0 {
        v.push(TunnelAttr::Oam);
    }
    v
}

fn gbp_attr(gbp: u32) -> Option<TunnelAttr> {
    (gbp != 0).then(|| TunnelAttr::VxlanOpts(vec![VxlanAttr::Gbp(gbp)]))
}

/// `id=N[/M],flags=N[/M]))` after `vxlan(gbp(`.
fn scan_vxlan_gbp(s: &str) -> Result<(u32, u32, usize)> {
    let (mut id, mut id_m, mut fl, mut fl_m) = (0u64, 0u64, 0u64, 0u64);
    let mut i = 0;
    if let Some(t) = s.strip_prefix("id=") {
        let (v, m, n) = scan_masked(t, 0xffff).ok_or_else(err)?;
        (id, id_m) = (v & 0xffff, m & 0xffff);
        i += 3 + n;
    }
    if s[i..].starts_with(',') {
        i += 1;
    }
    if let Some(t) = s[i..].strip_prefix("flags=") {
        let (v, m, n) = scan_masked(t, 0xff).ok_or_else(err)?;
        (fl, fl_m) = (v & 0xff, m & 0xff);
        i += 6 + n;
    }
    if !s[i..].starts_with("))") {
        return Err(err());
    }
    Ok((
        ((fl << 16) | id) as u32,
        ((fl_m << 16) | id_m) as u32,
        i + 2,
    ))
}

fn scan_gtpu(s: &str) -> Result<([u8; 2], [u8; 2], usize)> {
    let (mut k, mut m) = ([0u8; 2], [0u8; 2]);
    let mut i = 0;
    if let Some(t) = s.strip_prefix("flags=") {
        let (v, mv, n) = scan_masked(t, 0xff).ok_or_else(err)?;
        (k[0], m[0]) = (v as u8, mv as u8);
        i += 6 + n;
    }
    if s[i..].starts_with(',') {
        i += 1;
    }
    if let Some(t) = s[i..].strip_prefix("msgtype=") {
        let (v, mv, n) = scan_masked(t, 0xff).ok_or_else(err)?;
        (k[1], m[1]) = (v as u8, mv as u8);
        i += 8 + n;
    }
    if !s[i..].starts_with(')') {
        return Err(err());
    }
    Ok((k, m, i + 1))
}

/// `ver=1,idx=N)` or `ver=2,dir=N,hwid=N)` after `erspan(`. The version
/// may be missing when its mask is zero (stock prints `erspan(idx=0x7/0)`
/// then); it is implied by the fields present.
fn scan_erspan(s: &str) -> Result<([u8; 12], [u8; 12], usize)> {
    let mut k = [0u8; 12];
    // Fields not scanned keep an exact mask, as in Open vSwitch.
    let mut m = [0xffu8; 12];
    let mut i = 0;
    let mut ver = None;
    let mut ver_mask = u32::MAX;
    if let Some(t) = s.strip_prefix("ver=") {
        let (v, mv, n) = scan_masked(t, 0xff).ok_or_else(err)?;
        ver = Some(v & 0xff);
        if mv & 0xff != 0xff {
            ver_mask = (mv & 0xff) as u32;
        }
        i += 4 + n;
    } else {
        ver_mask = 0;
    }
    if s[i..].starts_with(',') {
        i += 1;
    }
    let ver = match ver {
        Some(v) => v,
        None if s[i..].starts_with("idx=") => 1,
        None if s[i..].starts_with("dir=") || s[i..].starts_with("hwid=") => 2,
        None => return Err(err()),
    };
    k[..4].copy_from_slice(&(ver as u32).to_ne_bytes());
    m[..4].copy_from_slice(&ver_mask.to_ne_bytes());
    match ver {
        1 => {
            let (mut idx, mut idx_m) = (0u64, 0u64);
            if let Some(t) = s[i..].strip_prefix("idx=") {
                let (v, mv, n) = scan_masked(t, 0xffff_ffff).ok_or_else(err)?;
                (idx, idx_m) = (v, mv);
                i += 4 + n;
            }
            if s[i..].starts_with(')') {
                i += 1;
            } else {
                return Err(err());
            }
            k[4..8].copy_from_slice(&(idx as u32).to_be_bytes());
            m[4..8].copy_from_slice(&(idx_m as u32).to_be_bytes());
        }
        2 => {
            let (mut dir, mut dir_m, mut hw, mut hw_m) = (0u64, 0u64, 0u64, 0u64);
            if let Some(t) = s[i..].strip_prefix("dir=") {
                let (v, mv, n) = scan_masked(t, 0xff).ok_or_else(err)?;
                (dir, dir_m) = (v, mv);
                i += 4 + n;
            }
            if s[i..].starts_with(',') {
                i += 1;
            }
            if let Some(t) = s[i..].strip_prefix("hwid=") {
                let (v, mv, n) = scan_masked(t, 0xff).ok_or_else(err)?;
                (hw, hw_m) = (v, mv);
                i += 5 + n;
            }
            if s[i..].starts_with(')') {
                i += 1;
            } else {
                return Err(err());
            }
            let bits = |hw: u64, dir: u64| ((hw as u8 & 0xf) << 4) | ((dir as u8 & 1) << 3);
            k[11] = bits(hw, dir);
            m[11] = (m[11] & 0x07) | bits(hw_m, dir_m);
        }
        _ => return Err(err()),
    }
    Ok((k, m, i))
}

/// `{class=..,type=..,len=..,0xDATA[/0xMASK]}...)` after `geneve(`.
pub(crate) fn scan_geneve(s: &str) -> Result<(Vec<u8>, Vec<u8>, usize)> {
    const MAX: usize = 252;
    let mut k = [0u8; MAX];
    let mut m = [0xffu8; MAX];
    let mut remain = MAX;
    let mut ofs = 0;
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b'{') && remain >= 4 {
        i += 1;
        remain -= 4;
        let mut data_len = 0usize;
        if let Some(t) = s[i..].strip_prefix("class=") {
            let (v, mv, n) = scan_masked(t, 0xffff).ok_or_else(err)?;
            k[ofs..ofs + 2].copy_from_slice(&(v as u16).to_be_bytes());
            m[ofs..ofs + 2].copy_from_slice(&(mv as u16).to_be_bytes());
            i += 6 + n;
        } else {
            m[ofs] = 0;
            m[ofs + 1] = 0;
        }
        if b.get(i) == Some(&b',') {
            i += 1;
        }
        if let Some(t) = s[i..].strip_prefix("type=") {
            let (v, mv, n) = scan_masked(t, 0xff).ok_or_else(err)?;
            k[ofs + 2] = v as u8;
            m[ofs + 2] = mv as u8;
            i += 5 + n;
        } else {
            m[ofs + 2] = 0;
        }
        if b.get(i) == Some(&b',') {
            i += 1;
        }
        if let Some(t) = s[i..].strip_prefix("len=") {
            let (v, mv, n) = scan_masked(t, 0xff).ok_or_else(err)?;
            let opt_len = (v & 0xff) as usize;
            i += 4 + n;
            if opt_len > 124 || !opt_len.is_multiple_of(4) || opt_len > remain {
                return Err(err());
            }
            k[ofs + 3] = (opt_len / 4) as u8;
            m[ofs + 3] = (m[ofs + 3] & 0xe0) | (mv as u8 & 0x1f);
            data_len = opt_len;
        } else {
            // Open vSwitch clears the type mask here too.
            m[ofs + 2] = 0;
        }
        if b.get(i) == Some(&b',') {
            i += 1;
            let n =
                parse_int_string(&s[i..], &mut k[ofs + 4..ofs + 4 + data_len]).ok_or_else(err)?;
            i += n;
        }
        if b.get(i) == Some(&b'/') {
            i += 1;
            let n =
                parse_int_string(&s[i..], &mut m[ofs + 4..ofs + 4 + data_len]).ok_or_else(err)?;
            i += n;
        }
        m[ofs + 3] &= 0x1f;
        if b.get(i) == Some(&b'}') {
            i += 1;
            ofs += 4 + data_len;
            remain -= data_len;
        } else {
            return Err(err());
        }
    }
    if b.get(i) == Some(&b')') {
        let len = MAX - remain;
        Ok((k[..len].to_vec(), m[..len].to_vec(), i + 1))
    } else {
        Err(err())
    }
}

// ---------------------------------------------------------------------
// Printer.

fn format_unknown_sub(out: &mut String, ty: u16, data: &[u8], ma: Option<&[u8]>) {
    let _ = write!(out, "key{ty}(");
    put_spaced_hex(out, data);
    if let Some(m) = ma {
        if !mask_is_constant(ty, m, 0xff) {
            out.push('/');
            put_spaced_hex(out, m);
        }
    }
    out.push_str("),");
}

pub(crate) fn format_tunnel(
    out: &mut String,
    attrs: &[TunnelAttr],
    mask: Option<&[TunnelAttr]>,
    verbose: bool,
) {
    use TunnelAttr::*;
    let mut flags = 0u32;
    let mut mask_flags = 0u32;
    for a in attrs {
        let generated;
        let ma = match mask {
            Some(m) => match m.iter().find(|x| x.attr_type() == a.attr_type()) {
                Some(x) => Some(x),
                None => {
                    generated = a.zero_mask();
                    Some(&generated)
                }
            },
            None => None,
        };
        macro_rules! m {
            ($pat:ident) => {
                match ma {
                    Some($pat(x)) => Some(*x),
                    _ => None,
                }
            };
        }
        match a {
            Id(v) => {
                f_be64(out, verbose, "tun_id", *v, m!(Id));
                flags |= TNL_F_KEY;
                if ma.is_some() {
                    mask_flags |= TNL_F_KEY;
                }
            }
            Ipv4Src(v) => f_ipv4(out, verbose, "src", *v, m!(Ipv4Src)),
            Ipv4Dst(v) => f_ipv4(out, verbose, "dst", *v, m!(Ipv4Dst)),
            Ipv6Src(v) => f_in6(out, verbose, "ipv6_src", *v, m!(Ipv6Src)),
            Ipv6Dst(v) => f_in6(out, verbose, "ipv6_dst", *v, m!(Ipv6Dst)),
            Tos(v) => f_u8x(out, verbose, "tos", *v, m!(Tos)),
            Ttl(v) => f_u8u(out, verbose, "ttl", *v, m!(Ttl)),
            DontFragment => flags |= TNL_F_DONT_FRAGMENT,
            Csum => flags |= TNL_F_CSUM,
            Oam => flags |= TNL_F_OAM,
            TpSrc(v) => f_be16(out, verbose, "tp_src", *v, m!(TpSrc)),
            TpDst(v) => f_be16(out, verbose, "tp_dst", *v, m!(TpDst)),
            VxlanOpts(v) => {
                out.push_str("vxlan(");
                let mv = match ma {
                    Some(VxlanOpts(x)) => Some(x.as_slice()),
                    Some(_) => Some(&[][..]),
                    None => None,
                };
                format_vxlan(out, v, mv, verbose);
                out.push_str("),");
            }
            GeneveOpts(d) => {
                out.push_str("geneve(");
                let mv = match ma {
                    Some(GeneveOpts(x)) => Some(x.as_slice()),
                    Some(_) => Some(&[][..]),
                    None => None,
                };
                format_geneve(out, d, mv, verbose);
                out.push_str("),");
            }
            Pad(_) => {}
            ErspanOpts(d) => {
                out.push_str("erspan(");
                format_erspan(out, d, m!(ErspanOpts), verbose);
                out.push_str("),");
            }
            GtpuOpts(d) => {
                out.push_str("gtpu(");
                let mk = m!(GtpuOpts);
                f_u8x(out, verbose, "flags", d[0], mk.map(|m| m[0]));
                f_u8u(out, verbose, "msgtype", d[1], mk.map(|m| m[1]));
                chomp(out, ',');
                out.push_str("),");
            }
            Ipv4InfoBridge | Unknown { .. } => {
                let mp = ma.map(|m| m.payload());
                format_unknown_sub(out, a.attr_type(), &a.payload(), mp.as_deref());
            }
        }
    }
    if let Some(m) = mask {
        for a in m {
            match a {
                DontFragment => mask_flags |= TNL_F_DONT_FRAGMENT,
                Csum => mask_flags |= TNL_F_CSUM,
                Oam => mask_flags |= TNL_F_OAM,
                _ => {}
            }
        }
    }
    let mf = mask.map(|_| mask_flags);
    if verbose || mf != Some(0) {
        out.push_str("flags(");
        match mf {
            Some(mf) => format_flags_masked(out, tun_flag_name, flags, mf & TNL_F_MASK, TNL_F_MASK),
            None => format_flags(out, tun_flag_name, flags, '|'),
        }
        out.push_str("),");
    }
    chomp(out, ',');
}

fn format_vxlan(out: &mut String, attrs: &[VxlanAttr], mask: Option<&[VxlanAttr]>, verbose: bool) {
    for a in attrs {
        let ty = match a {
            VxlanAttr::Gbp(_) => OVS_VXLAN_EXT_GBP,
            VxlanAttr::Unknown { ty, .. } => *ty,
        };
        let ma = mask.map(|m| {
            m.iter()
                .find(|x| match x {
                    VxlanAttr::Gbp(_) => ty == OVS_VXLAN_EXT_GBP,
                    VxlanAttr::Unknown { ty: t, .. } => *t == ty,
                })
                .cloned()
                .unwrap_or(match a {
                    VxlanAttr::Gbp(_) => VxlanAttr::Gbp(0),
                    VxlanAttr::Unknown { ty, data } => VxlanAttr::Unknown {
                        ty: *ty,
                        data: vec![0; data.len()],
                    },
                })
        });
        match a {
            VxlanAttr::Gbp(k) => {
                let mk = match ma {
                    Some(VxlanAttr::Gbp(m)) => Some(m),
                    _ => None,
                };
                out.push_str("gbp(");
                f_be16(
                    out,
                    verbose,
                    "id",
                    (*k & 0xffff) as u16,
                    mk.map(|m| (m & 0xffff) as u16),
                );
                f_u8x(
                    out,
                    verbose,
                    "flags",
                    (*k >> 16) as u8,
                    mk.map(|m| (m >> 16) as u8),
                );
                chomp(out, ',');
                out.push_str("),");
            }
            VxlanAttr::Unknown { ty, data } => {
                let mp = match &ma {
                    Some(VxlanAttr::Unknown { data, .. }) => Some(data.clone()),
                    Some(VxlanAttr::Gbp(m)) => Some(m.to_ne_bytes().to_vec()),
                    None => None,
                };
                format_unknown_sub(out, *ty, data, mp.as_deref());
            }
        }
    }
    chomp(out, ',');
}

pub(crate) fn format_geneve(out: &mut String, opts: &[u8], mask: Option<&[u8]>, verbose: bool) {
    if let Some(m) = mask {
        if m.len() != opts.len() {
            let _ = write!(
                out,
                "value len {} different from mask len {}",
                opts.len(),
                m.len()
            );
            return;
        }
    }
    let mut ofs = 0;
    while ofs < opts.len() {
        let left = opts.len() - ofs;
        if left < 4 {
            let _ = write!(out, "opt len {left} less than minimum 4");
            return;
        }
        let o = &opts[ofs..];
        let data_len = usize::from(o[3] & 0x1f) * 4;
        let len = 4 + data_len;
        if len > left {
            let _ = write!(out, "opt len {len} greater than remaining {left}");
            return;
        }
        let mo = mask.map(|m| &m[ofs..]);
        out.push('{');
        f_be16x(
            out,
            verbose,
            "class",
            u16::from_be_bytes([o[0], o[1]]),
            mo.map(|m| u16::from_be_bytes([m[0], m[1]])),
        );
        f_u8x(out, verbose, "type", o[2], mo.map(|m| m[2]));
        let len_mask = mo.map(|m| {
            if m[3] & 0x1f == 0x1f {
                0xff
            } else {
                m[3] & 0x1f
            }
        });
        f_u8u(out, verbose, "len", data_len as u8, len_mask);
        let data = &o[4..len];
        let mdata = mo.map(|m| &m[4..len]);
        if data_len > 0 && (verbose || mdata.is_none_or(|m| !is_all(m, 0))) {
            put_hex(out, data);
            if let Some(m) = mdata {
                if !is_all(m, 0xff) {
                    out.push('/');
                    put_hex(out, m);
                }
            }
        } else {
            chomp(out, ',');
        }
        out.push('}');
        ofs += len;
    }
}

fn format_erspan(out: &mut String, d: &[u8; 12], m: Option<[u8; 12]>, verbose: bool) {
    let version = u32::from_ne_bytes([d[0], d[1], d[2], d[3]]);
    f_u8u(out, verbose, "ver", d_ver(d), m.map(|m| d_ver(&m)));
    if version == 1 {
        let idx = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
        match m {
            Some(m) => {
                let mi = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
                let _ = write!(out, "idx={}/{},", hx(idx.into()), hx(mi.into()));
            }
            None => {
                let _ = write!(out, "idx={},", hx(idx.into()));
            }
        }
    } else if version == 2 {
        let dir = |b: &[u8; 12]| (b[11] >> 3) & 1;
        let hwid = |b: &[u8; 12]| b[11] >> 4;
        f_u8u(out, verbose, "dir", dir(d), m.as_ref().map(dir));
        f_u8x(out, verbose, "hwid", hwid(d), m.as_ref().map(hwid));
    }
    chomp(out, ',');
}

fn d_ver(d: &[u8; 12]) -> u8 {
    u32::from_ne_bytes([d[0], d[1], d[2], d[3]]) as u8
}
