//! Actions that hold actions (clone, ct with its nat), and the
//! instructions a list of actions may not hold.

use super::*;

// ---------------------------------------------------------------------
// Nested actions: clone, ct, nat.

/// A nested action's fixed header; the encoder sets its length.
pub(super) fn nested_head(subtype: u16, len: u16, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut h = Vec::with_capacity(usize::from(len));
    h.put_u16(0xffff);
    h.put_u16(len);
    h.put_u32(NX_VENDOR);
    h.put_u16(subtype);
    body(&mut h);
    h.resize(usize::from(len), 0);
    h
}

pub(super) fn nested_actions(list: Vec<Parsed>) -> Vec<Action> {
    list.into_iter().filter_map(|p| p.action).collect()
}

/// `clone(ACTIONS)` (NXAST_CLONE).
pub(super) fn parse_clone(arg: &str, depth: u32) -> Result<Parsed, String> {
    let list = parse_list(arg, Outer::Clone, depth + 1)?;
    let a = Action::NxNested {
        subtype: 42,
        head: nested_head(42, 16, |_| {}),
        actions: nested_actions(list),
    };
    Ok(Parsed::action("clone", a))
}

/// What `ct(...)` says besides its nested actions.
#[derive(Debug, Default)]
pub(super) struct CtArgs {
    flags: u16,
    table: Option<u8>,
    zone_imm: u16,
    zone_src: Option<Subfield>,
    alg: u16,
}

/// `ct(commit,force,table=N,zone=N|FIELD[..],alg=ftp|tftp,nat(...),
/// exec(...))` (NXAST_CT; nat and the exec actions nest in order).
pub(super) fn parse_ct(arg: &str, depth: u32) -> Result<Parsed, String> {
    let mut ct = CtArgs::default();
    let mut nested = Vec::new();
    for (key, value) in KeyValues::new(arg) {
        match key {
            "commit" => ct.flags |= CT_COMMIT,
            "force" => ct.flags |= CT_FORCE,
            "table" => {
                let t = table_from_string(value).ok_or_else(|| format!("unknown table {value}"))?;
                if t == CT_NO_RECIRC {
                    return Err(format!("invalid table {t:#x}"));
                }
                ct.table = Some(t);
            }
            "zone" => match str_to_u16(value, "zone") {
                Ok(z) => ct.zone_imm = z,
                Err(_) => ct.zone_src = Some(parse_subfield(value)?),
            },
            "alg" => {
                ct.alg = match value {
                    "ftp" => 21,
                    "tftp" => 69,
                    _ => return Err(format!("invalid conntrack helper \"{value}\"")),
                }
            }
            "nat" => nested.push(parse_nat(value)?),
            "exec" => nested.extend(parse_list(value, Outer::Ct, depth + 1)?),
            _ => return Err(format!("invalid argument to \"ct\" action: `{key}'")),
        }
    }
    if ct.flags & CT_FORCE != 0 && ct.flags & CT_COMMIT == 0 {
        return Err("\"force\" flag requires \"commit\" flag.".into());
    }
    let head = nested_head(35, 24, |h| {
        h.put_u16(ct.flags);
        match ct.zone_src {
            Some(sf) => {
                h.put_u32(field_header32(sf.field));
                h.put_u16(sf.ofs_nbits());
            }
            None => {
                h.put_u32(0);
                h.put_u16(ct.zone_imm);
            }
        }
        h.put_u8(ct.table.unwrap_or(CT_NO_RECIRC));
        h.put_zeros(3);
        h.put_u16(ct.alg);
    });
    let a = Action::NxNested {
        subtype: 35,
        head,
        actions: nested_actions(nested),
    };
    Ok(Parsed::action("ct", a))
}

/// A NAT address and port range.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct NatRange {
    /// (min, max); 0 for an absent bound.
    v4: Option<(u32, u32)>,
    v6: Option<(u128, u128)>,
    ports: (u16, u16),
}

/// An IPv6 address at `b[i..]`, bare or in brackets, as stock scans it:
/// the end of what was scanned, and the address when it is one.
pub(super) fn scan_nat_ipv6(s: &str, i: usize) -> Option<(usize, Option<u128>)> {
    let b = s.as_bytes();
    let (text, end) = if let Some(end) = scan_ipv6_chars(b, i) {
        (&s[i..end], end)
    } else {
        let end = scan_ipv6_chars(b, i + 1).filter(|_| b.get(i) == Some(&b'['))?;
        if b.get(end) != Some(&b']') {
            return None;
        }
        (&s[i + 1..end], end + 1)
    };
    Some((end, text.parse::<Ipv6Addr>().ok().map(u128::from)))
}

/// Stock's `str_to_nat_range()`: `IP[-IP][:PORT[-PORT]]`, IPv6 addresses
/// bare or in brackets.
pub(super) fn parse_nat_range(s: &str) -> Result<NatRange, String> {
    let b = s.as_bytes();
    let invalid = || format!("invalid nat range \"{s}\"");
    let mut r = NatRange::default();
    let mut n = 0;
    if let Some((min, end)) = scan_ipv4(b, 0) {
        n = end;
        let mut max = 0;
        if b.get(n) == Some(&b'-') {
            let (m, end) = scan_ipv4(b, n + 1).ok_or_else(invalid)?;
            if m < min {
                return Err(invalid());
            }
            (max, n) = (m, end);
        }
        r.v4 = Some((min, max));
    } else if let Some((end, addr)) = scan_nat_ipv6(s, 0) {
        // Stock moves past what it scanned even when it is no address.
        n = end;
        if let Some(min) = addr {
            let mut max = 0;
            if b.get(n) == Some(&b'-') {
                let (end, m) = scan_nat_ipv6(s, n + 1).ok_or_else(invalid)?;
                let m = m.filter(|&m| m >= min).ok_or_else(invalid)?;
                (max, n) = (m, end);
            }
            r.v6 = Some((min, max));
        }
    }
    if (r.v4.is_some() || r.v6.is_some()) && b.get(n) == Some(&b':') {
        let (min, end) = scan_int(b, n + 1, 10).ok_or_else(invalid)?;
        r.ports.0 = min as u16;
        n = end;
        if b.get(n) == Some(&b'-') {
            let (max, end) = scan_int(b, n + 1, 10).ok_or_else(invalid)?;
            if (max as u16) < r.ports.0 {
                return Err(invalid());
            }
            r.ports.1 = max as u16;
            n = end;
        }
    }
    if n != b.len() {
        return Err(format!(
            "garbage ({}) after nat range \"{s}\" (pos: {n})",
            &s[n..]
        ));
    }
    Ok(r)
}

/// `nat`, `nat(src|dst[=RANGE],persistent,hash|random)` (NXAST_NAT,
/// allowed only inside ct).
pub(super) fn parse_nat(arg: &str) -> Result<Parsed, String> {
    let mut flags = 0u16;
    let mut range = NatRange::default();
    for (key, value) in KeyValues::new(arg) {
        match key {
            "src" | "dst" => {
                flags |= if key == "src" { NAT_SRC } else { NAT_DST };
                range = parse_nat_range(value)?;
            }
            "persistent" => flags |= NAT_PERSISTENT,
            "hash" => flags |= NAT_PROTO_HASH,
            "random" => flags |= NAT_PROTO_RANDOM,
            _ => return Err(format!("invalid key \"{key}\" in \"nat\" argument")),
        }
    }
    if flags & NAT_SRC != 0 && flags & NAT_DST != 0 {
        return Err("May only specify one of \"src\" or \"dst\".".into());
    }
    if flags & (NAT_SRC | NAT_DST) == 0 && flags != 0 {
        return Err("Flags allowed only with \"src\" or \"dst\".".into());
    }
    if flags & NAT_PROTO_HASH != 0 && flags & NAT_PROTO_RANDOM != 0 {
        return Err("Both \"hash\" and \"random\" are not allowed.".into());
    }
    let a = nx_action(36, 16, |b| put_nat_body(b, flags, range))?;
    Ok(Parsed::action("nat", a))
}

/// nx_action_nat after its subtype: padding, flags, which bounds are
/// present, the nonzero bounds.
pub(super) fn put_nat_body(b: &mut Vec<u8>, flags: u16, r: NatRange) {
    b.put_u16(0);
    b.put_u16(flags);
    let present_at = b.len();
    b.put_u16(0);
    let mut present = 0u16;
    if let Some((min, max)) = r.v4 {
        for (bit, v) in [(1, min), (2, max)] {
            if v != 0 {
                b.put_u32(v);
                present |= bit;
            }
        }
    }
    if let Some((min, max)) = r.v6 {
        for (bit, v) in [(4, min), (8, max)] {
            if v != 0 {
                b.extend_from_slice(&v.to_be_bytes());
                present |= bit;
            }
        }
    }
    if r.v4.is_some() || r.v6.is_some() {
        for (bit, v) in [(16, r.ports.0), (32, r.ports.1)] {
            if v != 0 {
                b.put_u16(v);
                present |= bit;
            }
        }
    }
    b.set_u16(present_at, present);
}

// ---------------------------------------------------------------------
// Instructions (parsed only to be refused, as stock does).

/// `write_metadata:VALUE[/MASK]`.
pub(super) fn parse_write_metadata(arg: &str) -> Result<Parsed, String> {
    let value_s = match arg.split_once('/') {
        Some((v, mask)) => {
            str_to_u64(mask)?;
            v
        }
        None => arg,
    };
    str_to_u64(value_s)?;
    Ok(Parsed::instruction(Inst::WriteMetadata, None))
}
