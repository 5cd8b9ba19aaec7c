//! The flat actions: output, controller and queues, header rewrites,
//! field writes (set_field, load, move, push, pop), resubmit and note.

use super::*;

// ---------------------------------------------------------------------
// Output, controller, enqueue.

/// `output:PORT`, `output:FIELD[..]` (output_reg) and
/// `output(port=P,max_len=N)` (output_trunc).
pub(super) fn parse_output(arg: &str) -> Result<Parsed, String> {
    if arg.contains("port") && arg.contains("max_len") {
        return parse_output_trunc(arg);
    }
    if let Some(p) = port_from_string(arg) {
        let max_len = if p == port::CONTROLLER { u16::MAX } else { 0 };
        return Ok(Parsed::action(
            "output",
            Action::Output { port: p, max_len },
        ));
    }
    match parse_subfield(arg) {
        Ok(sf) => parse_output_reg(sf),
        Err(_) => Err(format!("{arg}: output to unknown port")),
    }
}

/// NXAST_OUTPUT_REG, or NXAST_OUTPUT_REG2 for a field with only an
/// experimenter header; max_len is all bytes.
pub(super) fn parse_output_reg(sf: Subfield) -> Result<Parsed, String> {
    let header = field_header32(sf.field);
    let a = if header != 0 {
        nx_action(15, 24, |b| {
            b.put_u16(sf.ofs_nbits());
            b.put_u32(header);
            b.put_u16(u16::MAX);
        })?
    } else {
        nx_action(32, 24, |b| {
            b.put_u16(sf.ofs_nbits());
            b.put_u16(u16::MAX);
            put_field_header(b, sf.field);
        })?
    };
    Ok(Parsed::action("output_reg", a))
}

/// NXAST_OUTPUT_TRUNC from `port=P,max_len=N`.
pub(super) fn parse_output_trunc(arg: &str) -> Result<Parsed, String> {
    let (mut out_port, mut max_len) = (0u16, 0u32);
    for (key, value) in KeyValues::new(arg) {
        match key {
            "port" => {
                out_port = port_from_string(value)
                    .ok_or_else(|| format!("output to unknown truncate port: {value}"))?;
                if out_port > port::MAX && out_port != port::LOCAL && out_port != port::IN_PORT {
                    return Err(format!("output to unsupported truncate port: {value}"));
                }
            }
            "max_len" => {
                max_len = str_to_u32(value)?;
                if max_len < 14 {
                    return Err(format!(
                        "max_len {max_len} is less than the minimum value 14"
                    ));
                }
            }
            _ => return Err(format!("invalid key '{key}' in output_trunc argument")),
        }
    }
    let a = nx_action(39, 16, |b| {
        b.put_u16(out_port);
        b.put_u32(max_len);
    })?;
    Ok(Parsed::action("output_trunc", a))
}

/// `controller`, `controller:MAX_LEN`, `controller(key=value,...)`: an
/// output to CONTROLLER when only max_len differs from the defaults,
/// else NXAST_CONTROLLER.
pub(super) fn parse_controller(arg: &str) -> Result<Parsed, String> {
    let (mut reason, mut controller_id, mut max_len) = (REASON_ACTION, 0u16, u16::MAX);
    let mut meter_id = NO_METER;
    let mut extras = Vec::new();
    if !arg.is_empty() && arg.bytes().all(|c| c.is_ascii_digit()) {
        max_len = str_to_u16(arg, "max_len")?;
    } else {
        for (key, value) in KeyValues::new(arg) {
            match key {
                "reason" => {
                    // Stock's two "miss" reasons (6, 7) have an empty
                    // name: an empty value is the first of them.
                    reason = crate::openflow::text::PACKET_IN_REASONS
                        .iter()
                        .position(|r| r.eq_ignore_ascii_case(value))
                        .or(value.is_empty().then_some(6))
                        .ok_or_else(|| format!("unknown reason \"{value}\""))?
                        as u8;
                }
                "max_len" => max_len = str_to_u16(value, "max_len")?,
                "id" => controller_id = str_to_u16(value, "id")?,
                "userdata" | "pause" => extras.push(key),
                "meter_id" => meter_id = str_to_u32(value)?,
                _ => return Err(format!("unknown key \"{key}\" parsing controller action")),
            }
        }
    }
    if meter_id != NO_METER {
        extras.push("meter_id");
    }
    if !extras.is_empty() {
        // These need NXAST_CONTROLLER2, which translation does not know.
        return Err(unsupported(&format!("controller {}", extras.join(" and "))));
    }
    if reason == REASON_ACTION && controller_id == 0 {
        return Ok(Parsed::action(
            "output",
            Action::Output {
                port: port::CONTROLLER,
                max_len,
            },
        ));
    }
    let a = nx_action(20, 16, |b| {
        b.put_u16(max_len);
        b.put_u16(controller_id);
        b.put_u8(reason);
    })?;
    Ok(Parsed::action("controller", a))
}

/// `enqueue:PORT:QUEUE` or `enqueue(PORT,QUEUE)` (stock splits at any of
/// `:`, `q` and `,`).
pub(super) fn parse_enqueue(arg: &str) -> Result<Parsed, String> {
    let is_delim = |c: char| matches!(c, ':' | 'q' | ',');
    let t = arg.trim_start_matches(is_delim);
    let split = t.find(is_delim);
    let port_s = split.map_or(t, |i| &t[..i]);
    let queue_s = split.map_or("", |i| &t[i + 1..]);
    if port_s.is_empty() || queue_s.is_empty() {
        return Err(
            "\"enqueue\" syntax is \"enqueue:PORT:QUEUE\" or \"enqueue(PORT,QUEUE)\"".into(),
        );
    }
    let p = port_from_string(port_s).ok_or_else(|| format!("{port_s}: enqueue to unknown port"))?;
    let queue = str_to_u32(queue_s)?;
    Ok(Parsed::action(
        "enqueue",
        Action::Enqueue { port: p, queue },
    ))
}

// ---------------------------------------------------------------------
// VLAN, Ethernet, IP, transport, TTL and MPLS rewrites.

/// `mod_vlan_vid`/`set_vlan_vid` (the model has one action for both).
pub(super) fn parse_vlan_vid(arg: &str) -> Result<Parsed, String> {
    let vid = str_to_u16(arg, "VLAN VID")?;
    if vid & !0xfff != 0 {
        return Err(format!("{arg}: not a valid VLAN VID"));
    }
    Ok(Parsed::action("set_vlan_vid", Action::SetVlanVid(vid)))
}

pub(super) fn parse_vlan_pcp(arg: &str) -> Result<Parsed, String> {
    let pcp = str_to_u8(arg, "VLAN PCP")?;
    if pcp & !7 != 0 {
        return Err(format!("{arg}: not a valid VLAN PCP"));
    }
    Ok(Parsed::action("set_vlan_pcp", Action::SetVlanPcp(pcp)))
}

pub(super) fn parse_push_vlan(arg: &str) -> Result<Parsed, String> {
    let ethertype = str_to_u16(arg, "ethertype")?;
    if ethertype != 0x8100 && ethertype != 0x88a8 {
        return Err(format!("{arg}: not a valid VLAN ethertype"));
    }
    Ok(Parsed::action("push_vlan", Action::PushVlan(ethertype)))
}

/// `mod_dl_src`/`mod_dl_dst`: a MAC (stock ignores what follows it).
pub(super) fn parse_mod_dl(key: &str, arg: &str) -> Result<Parsed, String> {
    let (mac, _) =
        scan_mac(arg.as_bytes(), 0).ok_or_else(|| format!("invalid mac address {arg}"))?;
    Ok(if key == "mod_dl_src" {
        Parsed::action("mod_dl_src", Action::SetEthSrc(mac))
    } else {
        Parsed::action("mod_dl_dst", Action::SetEthDst(mac))
    })
}

/// `mod_nw_src`/`mod_nw_dst`: a dotted quad, as inet_pton() takes it.
pub(super) fn parse_mod_nw(key: &str, arg: &str) -> Result<Parsed, String> {
    let ip: Ipv4Addr = arg
        .parse()
        .map_err(|_| format!("{arg}: could not convert to IP address"))?;
    let ip = u32::from(ip);
    Ok(if key == "mod_nw_src" {
        Parsed::action("mod_nw_src", Action::SetIpv4Src(ip))
    } else {
        Parsed::action("mod_nw_dst", Action::SetIpv4Dst(ip))
    })
}

/// `mod_nw_tos`: the DSCP bits in their TOS position.
pub(super) fn parse_mod_nw_tos(arg: &str) -> Result<Parsed, String> {
    let tos = str_to_u8(arg, "TOS")?;
    if tos & 3 != 0 {
        return Err(format!("{arg}: not a valid TOS"));
    }
    Ok(Parsed::action("mod_nw_tos", Action::SetIpDscp(tos)))
}

pub(super) fn parse_mod_nw_ecn(arg: &str) -> Result<Parsed, String> {
    let ecn = str_to_u8(arg, "ECN")?;
    if ecn & !3 != 0 {
        return Err(format!("{arg}: not a valid ECN"));
    }
    Ok(Parsed::action("mod_nw_ecn", Action::SetIpEcn(ecn)))
}

/// `dec_ttl`, or `dec_ttl(ID,...)` (NXAST_DEC_TTL_CNT_IDS: the
/// controllers to tell when the TTL runs out).
pub(super) fn parse_dec_ttl(arg: &str) -> Result<Parsed, String> {
    if arg.is_empty() {
        return Ok(Parsed::action("dec_ttl", Action::DecTtl));
    }
    let ids: Vec<u16> = arg
        .split([',', ' '])
        .filter(|t| !t.is_empty())
        .map(atoi_u16)
        .collect();
    if ids.is_empty() {
        return Err("dec_ttl_cnt_ids: expected at least one controller id.".into());
    }
    let a = nx_action(21, 16, |b| {
        b.put_u16(ids.len() as u16);
        b.put_zeros(4);
        for &i in &ids {
            b.put_u16(i);
        }
    })?;
    Ok(Parsed::action("dec_ttl", a))
}

pub(super) fn parse_set_mpls_label(arg: &str) -> Result<Parsed, String> {
    if arg.is_empty() {
        return Err("set_mpls_label: expected label.".into());
    }
    let label = str_to_u32(arg)?;
    if label & !0xfffff != 0 {
        return Err(format!("{arg}: not a valid MPLS label"));
    }
    Ok(Parsed::action(
        "set_mpls_label",
        Action::SetMplsLabel(label),
    ))
}

pub(super) fn parse_set_mpls_tc(arg: &str) -> Result<Parsed, String> {
    if arg.is_empty() {
        return Err("set_mpls_tc: expected tc.".into());
    }
    let tc = str_to_u8(arg, "MPLS TC")?;
    if tc & !7 != 0 {
        return Err(format!("{arg}: not a valid MPLS TC"));
    }
    Ok(Parsed::action("set_mpls_tc", Action::SetMplsTc(tc)))
}

pub(super) fn parse_set_mpls_ttl(arg: &str) -> Result<Parsed, String> {
    if arg.is_empty() {
        return Err("set_mpls_ttl: expected ttl.".into());
    }
    let ttl = str_to_u8(arg, "MPLS TTL")?;
    Ok(Parsed::action("set_mpls_ttl", Action::SetMplsTtl(ttl)))
}

/// `set_tunnel:N` / `set_tunnel64:N`; stock treats a set_tunnel beyond 32
/// bits as set_tunnel64.
pub(super) fn parse_set_tunnel(arg: &str, wide: bool) -> Result<Parsed, String> {
    let v = str_to_u64(arg)?;
    let raw = if wide || v > u64::from(u32::MAX) {
        SetFieldRaw::Tunnel64
    } else {
        SetFieldRaw::Tunnel
    };
    let a = Action::SetField {
        field: id::TUN_ID,
        value: v.into(),
        mask: u64::MAX.into(),
        raw,
    };
    Ok(Parsed::action("set_tunnel", a))
}

// ---------------------------------------------------------------------
// Fields: set_field, load, move, push, pop.

/// Stock's `set_field_split_str()`: `VALUE->DST`.
pub(super) fn split_arrow(arg: &str) -> Result<(&str, &str), String> {
    let i = arg
        .find("->")
        .ok_or_else(|| format!("{arg}: missing `->'"))?;
    let dst = &arg[i + 2..];
    if dst.is_empty() {
        return Err(format!("{arg}: missing field name following `->'"));
    }
    Ok((&arg[..i], dst))
}

/// `set_field:VALUE[/MASK]->FIELD`.
pub(super) fn parse_set_field(arg: &str) -> Result<Parsed, String> {
    let (value_s, name) = split_arrow(arg)?;
    let f = field_by_name(name).ok_or_else(|| format!("{name} is not a valid OXM field name"))?;
    if FIELDS[f].read_only {
        return Err(format!("{name} is read-only"));
    }
    let (value, mask) = parse_field_value(f, value_s)?;
    if !field_value_is_valid(f, value) {
        return Err(format!("{value_s} is not a valid value for field {name}"));
    }
    let a = Action::SetField {
        field: f,
        value: value & mask,
        mask,
        raw: SetFieldRaw::SetField,
    };
    Ok(Parsed::writing("set_field", a, f))
}

/// `load:VALUE->FIELD[ofs..end]` (NXAST_REG_LOAD's syntax).
pub(super) fn parse_load(arg: &str) -> Result<Parsed, String> {
    let (value_s, dst_s) = split_arrow(arg)?;
    let dst = parse_subfield(dst_s)?;
    let f = dst.field;
    // Stock reads the number without looking at what follows it.
    let (value, _) = parse_int_string(value_s, usize::from(FIELDS[f].width))
        .map_err(|_| format!("{arg}: cannot parse integer value"))?;
    let n_bits = u32::from(dst.n_bits);
    if value & !full_bits(n_bits) != 0 {
        return Err(format!(
            "{arg}: value {} does not fit into {n_bits} bits",
            format_field_value(f, value)
        ));
    }
    let mask = full_bits(n_bits) << dst.ofs;
    let a = Action::SetField {
        field: f,
        value: value << dst.ofs,
        mask,
        raw: SetFieldRaw::RegLoad,
    };
    Ok(Parsed::writing("set_field", a, f))
}

/// `move:SRC[..]->DST[..]` (NXAST_REG_MOVE).
pub(super) fn parse_move(arg: &str) -> Result<Parsed, String> {
    let (src, rest) = parse_subfield_prefix(arg)?;
    let dst_s = rest
        .strip_prefix("->")
        .ok_or_else(|| format!("{arg}: missing `->' following source"))?;
    let dst = parse_subfield(dst_s)?;
    if src.n_bits != dst.n_bits {
        return Err(format!(
            "{arg}: source field is {} bits wide but destination is {} bits wide",
            src.n_bits, dst.n_bits
        ));
    }
    // Stock refuses this when it checks the actions (mf_check_dst); the
    // model cannot hold a move to a field that cannot be written.
    if FIELDS[dst.field].read_only {
        return Err("Bad actions: OFPBAC_BAD_SET_ARGUMENT".into());
    }
    let a = Action::Move {
        src: src.field,
        dst: dst.field,
        src_ofs: src.ofs,
        dst_ofs: dst.ofs,
        n_bits: src.n_bits,
    };
    Ok(Parsed::writing("move", a, dst.field))
}

/// `push:FIELD[..]` / `pop:FIELD[..]` (NXAST_STACK_PUSH/POP).
pub(super) fn parse_stack(pop: bool, arg: &str) -> Result<Parsed, String> {
    let (sf, rest) = parse_subfield_prefix(arg)?;
    if !rest.is_empty() {
        return Err(format!("{rest}: trailing garbage following push or pop"));
    }
    let a = nx_action(if pop { 28 } else { 27 }, 24, |b| {
        b.put_u16(sf.ofs);
        put_field_header(b, sf.field);
        b.put_u16(sf.n_bits);
    })?;
    Ok(Parsed::action(if pop { "pop" } else { "push" }, a))
}

/// `check_pkt_larger(LEN)->FIELD[bit]` (NXAST_CHECK_PKT_LARGER).
pub(super) fn parse_check_pkt_larger(arg: &str) -> Result<Parsed, String> {
    let (len_s, dst_s) = split_arrow(arg)?;
    let len_s = len_s.strip_suffix(')').unwrap_or(len_s);
    let dst = parse_subfield(dst_s)?;
    if dst.n_bits != 1 {
        return Err("Only 1-bit destination field is allowed".into());
    }
    // Stock names no argument here, and glibc prints that as "(null)".
    let pkt_len = str_to_u16(len_s, "(null)")?;
    let a = nx_action(49, 24, |b| {
        b.put_u16(pkt_len);
        b.put_u16(dst.ofs);
        put_field_header(b, dst.field);
    })?;
    Ok(Parsed::action("check_pkt_larger", a))
}

// ---------------------------------------------------------------------
// Resubmit, note, fin_timeout.

/// `resubmit:PORT`, `resubmit(PORT)`, `resubmit([PORT],[TABLE][,ct])`:
/// stock encodes every parsed form as NXAST_RESUBMIT_TABLE (or
/// NXAST_RESUBMIT_TABLE_CT with `ct`), table 255 meaning "this table".
pub(super) fn parse_resubmit(arg: &str) -> Result<Parsed, String> {
    let mut parts = arg.splitn(3, ',');
    let port_s = parts.next().unwrap_or("");
    let table_s = parts.next().unwrap_or("");
    // Stock looks only up to a third comma.
    let ct_s = parts
        .next()
        .map_or("", |s| s.split(',').next().unwrap_or(""));
    let in_port = if port_s.is_empty() {
        port::IN_PORT
    } else {
        port_from_string(port_s).ok_or_else(|| format!("{port_s}: resubmit to unknown port"))?
    };
    let table = if table_s.is_empty() {
        255
    } else {
        table_from_string(table_s).ok_or_else(|| format!("{table_s}: resubmit to unknown table"))?
    };
    let with_ct = match ct_s {
        "" => false,
        "ct" => true,
        _ => return Err(format!("{ct_s}: unknown parameter")),
    };
    if in_port == port::IN_PORT && table == 255 {
        return Err("at least one \"in_port\" or \"table\" must be specified on resubmit".into());
    }
    let a = nx_action(if with_ct { 44 } else { 14 }, 16, |b| {
        b.put_u16(in_port);
        b.put_u8(table);
    })?;
    Ok(Parsed::action("resubmit", a))
}

/// `note:HEX.HEX...` (NXAST_NOTE; the wire pads the bytes with zeros).
pub(super) fn parse_note(arg: &str) -> Result<Parsed, String> {
    let (bytes, rest) = parse_hex_bytes(arg);
    if !rest.is_empty() {
        return Err("bad hex digit in `note' argument".into());
    }
    let a = nx_action(8, 16, |b| b.extend_from_slice(&bytes))?;
    Ok(Parsed::action("note", a))
}

/// `fin_timeout(idle_timeout=N,hard_timeout=N)` (NXAST_FIN_TIMEOUT).
pub(super) fn parse_fin_timeout(arg: &str) -> Result<Parsed, String> {
    let (mut idle, mut hard) = (0u16, 0u16);
    for (key, value) in KeyValues::new(arg) {
        match key {
            "idle_timeout" => idle = str_to_u16(value, key)?,
            "hard_timeout" => hard = str_to_u16(value, key)?,
            _ => return Err(format!("invalid key '{key}' in 'fin_timeout' argument")),
        }
    }
    let a = nx_action(19, 16, |b| {
        b.put_u16(idle);
        b.put_u16(hard);
    })?;
    Ok(Parsed::action("fin_timeout", a))
}
