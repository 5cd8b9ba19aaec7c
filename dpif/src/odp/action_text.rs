//! The text form of datapath actions, as ovs-dpctl prints and parses it.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::action::*;
use super::consts::*;
use super::key::{KeyAttr, NshAttr};
use super::key_text::*;
use super::scan::*;

/// Prints a list of actions (`drop` when empty), as `format_odp_actions`.
pub fn format_action_list(out: &mut String, actions: &[Action], opts: &FormatOptions<'_>) {
    if actions.is_empty() {
        out.push_str("drop");
        return;
    }
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format_action(out, a, opts);
    }
}

/// Reads a 48-byte `user_action_cookie` field (host byte order).
fn ck16(c: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes([c[o], c[o + 1]])
}
fn ck32(c: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes([c[o], c[o + 1], c[o + 2], c[o + 3]])
}

fn format_userspace(out: &mut String, u: &Userspace, opts: &FormatOptions<'_>) {
    let _ = write!(out, "userspace(pid={}", u.pid);
    if let Some(c) = &u.userdata {
        let mut unspec = true;
        if c.len() == COOKIE_LEN {
            unspec = false;
            match ck16(c, 0) {
                COOKIE_SFLOW => {
                    let tci = u16::from_be_bytes([c[24], c[25]]);
                    let _ = write!(
                        out,
                        ",sFlow(vid={},pcp={},output={})",
                        tci & 0xfff,
                        tci >> 13,
                        ck32(c, 28)
                    );
                }
                COOKIE_SLOW_PATH => {
                    out.push_str(",slow_path(");
                    format_flags(out, slow_path_name, ck32(c, 28), ',');
                    out.push(')');
                }
                COOKIE_FLOW_SAMPLE => {
                    let _ = write!(
                        out,
                        ",flow_sample(probability={},collector_set_id={},obs_domain_id={},obs_point_id={},output_port=",
                        ck16(c, 24),
                        ck32(c, 28),
                        ck32(c, 32),
                        ck32(c, 36)
                    );
                    port_name(out, ck32(c, 40), opts);
                    match ck32(c, 44) {
                        1 => out.push_str(",ingress"),
                        2 => out.push_str(",egress"),
                        _ => {}
                    }
                    out.push(')');
                }
                COOKIE_IPFIX => {
                    out.push_str(",ipfix(output_port=");
                    port_name(out, ck32(c, 24), opts);
                    out.push(')');
                }
                COOKIE_CONTROLLER => {
                    let cookie = u64::from_be_bytes([
                        c[32], c[33], c[34], c[35], c[36], c[37], c[38], c[39],
                    ]);
                    let _ = write!(
                        out,
                        ",controller(reason={},dont_send={},continuation={},recirc_id={},rule_cookie={},controller_id={},max_len={})",
                        ck16(c, 26),
                        u8::from(c[24] != 0),
                        u8::from(c[25] != 0),
                        ck32(c, 28),
                        hx(cookie),
                        ck16(c, 40),
                        ck16(c, 42)
                    );
                }
                _ => unspec = true,
            }
        }
        if unspec {
            out.push_str(",userdata(");
            for b in c {
                let _ = write!(out, "{b:02x}");
            }
            out.push(')');
        }
    }
    if u.actions {
        out.push_str(",actions");
    }
    if let Some(p) = u.egress_tun_port {
        out.push_str(",tunnel_out_port=");
        port_name(out, p, opts);
    }
    out.push(')');
}

fn fmt_nat_ipv6(a: &[u8], bracket: bool) -> String {
    let mut o = [0u8; 16];
    o.copy_from_slice(a);
    let s = fmt_ipv6(&Ipv6Addr::from(o));
    if bracket {
        format!("[{s}]")
    } else {
        s
    }
}

fn format_nat(out: &mut String, attrs: &[NatAttr]) {
    let (mut src, mut dst, mut persistent, mut hash, mut random) =
        (false, false, false, false, false);
    let (mut ip_min, mut ip_max): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let (mut pmin, mut pmax): (Option<u16>, Option<u16>) = (None, None);
    for a in attrs {
        match a {
            NatAttr::Src => src = true,
            NatAttr::Dst => dst = true,
            NatAttr::IpMin(v) => ip_min = Some(v),
            NatAttr::IpMax(v) => ip_max = Some(v),
            NatAttr::ProtoMin(v) => pmin = Some(*v),
            NatAttr::ProtoMax(v) => pmax = Some(*v),
            NatAttr::Persistent => persistent = true,
            NatAttr::ProtoHash => hash = true,
            NatAttr::ProtoRandom => random = true,
            NatAttr::Unknown { .. } => {
                out.push_str("nat(error: nl_parse_nested() failed.)");
                return;
            }
        }
    }
    if !(src || dst)
        && (ip_min.is_some()
            || ip_max.is_some()
            || pmin.is_some()
            || pmax.is_some()
            || persistent
            || hash
            || random)
    {
        out.push_str("nat(error: options allowed only with \"src\" or \"dst\")");
        return;
    }
    if src && dst {
        out.push_str("nat(error: Only one of \"src\" or \"dst\" may be present.)");
        return;
    }
    if ip_min.is_none() && pmin.is_some() {
        out.push_str("nat(error: proto but no IP.)");
        return;
    }
    if (ip_min.is_none() && ip_max.is_some()) || (pmin.is_none() && pmax.is_some()) {
        out.push_str("nat(error: range max without min.)");
        return;
    }
    if let (Some(a), Some(b)) = (ip_min, ip_max) {
        if a.len() != b.len() {
            out.push_str("nat(error: IP address sizes do not match)");
            return;
        }
    }
    let addr_len = ip_min.map_or(0, |a| a.len());
    let zero = [0u8; 16];
    let max_bytes = ip_max.unwrap_or(&zero[..addr_len]);
    let min_bytes = ip_min.unwrap_or(&[]);
    let max_is_zero = max_bytes.iter().all(|&b| b == 0);
    let (p_min, p_max) = (pmin.unwrap_or(0), pmax.unwrap_or(0));
    if (addr_len > 0 && !max_is_zero && min_bytes > max_bytes) || (p_max != 0 && p_min > p_max) {
        out.push_str("nat(range error)");
        return;
    }
    out.push_str("nat");
    if src || dst {
        out.push('(');
        out.push_str(if src { "src" } else { "dst" });
        if addr_len > 0 {
            out.push('=');
            if addr_len == 4 {
                let v4 = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
                let _ = write!(out, "{}", v4(min_bytes));
                if !max_is_zero && max_bytes != min_bytes {
                    let _ = write!(out, "-{}", v4(max_bytes));
                }
            } else {
                out.push_str(&fmt_nat_ipv6(min_bytes, p_min != 0));
                if !max_is_zero && max_bytes != min_bytes {
                    out.push('-');
                    out.push_str(&fmt_nat_ipv6(max_bytes, p_min != 0));
                }
            }
            if p_min != 0 {
                let _ = write!(out, ":{p_min}");
                if p_max != 0 && p_max != p_min {
                    let _ = write!(out, "-{p_max}");
                }
            }
        }
        out.push(',');
        if persistent {
            out.push_str("persistent,");
        }
        if hash {
            out.push_str("hash,");
        }
        if random {
            out.push_str("random,");
        }
        chomp(out, ',');
        out.push(')');
    }
}

fn format_ct(out: &mut String, attrs: &[CtAttr]) {
    if attrs.iter().any(|a| matches!(a, CtAttr::Unknown { .. })) {
        out.push_str("ct(error)");
        return;
    }
    let find = |f: fn(&CtAttr) -> bool| attrs.iter().find(|a| f(a));
    let commit = find(|a| matches!(a, CtAttr::Commit)).is_some();
    let force = find(|a| matches!(a, CtAttr::ForceCommit)).is_some();
    let zone = attrs.iter().find_map(|a| match a {
        CtAttr::Zone(z) => Some(*z),
        _ => None,
    });
    let zone = zone.unwrap_or(0);
    let mark = attrs.iter().find_map(|a| match a {
        CtAttr::Mark { value, mask } => Some((*value, *mask)),
        _ => None,
    });
    let label = attrs.iter().find_map(|a| match a {
        CtAttr::Labels { value, mask } => Some((*value, *mask)),
        _ => None,
    });
    let helper = attrs.iter().find_map(|a| match a {
        CtAttr::Helper(h) => Some(h.as_str()),
        _ => None,
    });
    let timeout = attrs.iter().find_map(|a| match a {
        CtAttr::Timeout(h) => Some(h.as_str()),
        _ => None,
    });
    let nat = attrs.iter().find_map(|a| match a {
        CtAttr::Nat(n) => Some(n.as_slice()),
        _ => None,
    });
    out.push_str("ct");
    if commit
        || force
        || zone != 0
        || mark.is_some()
        || label.is_some()
        || helper.is_some()
        || timeout.is_some()
        || nat.is_some()
    {
        out.push('(');
        if commit {
            out.push_str("commit,");
        }
        if force {
            out.push_str("force_commit,");
        }
        if zone != 0 {
            let _ = write!(out, "zone={zone},");
        }
        if let Some((v, m)) = mark {
            let _ = write!(out, "mark={}/{},", hx(v.into()), hx(m.into()));
        }
        if let Some((v, m)) = label {
            out.push_str("label=");
            put_hex(out, &v.to_be_bytes());
            if m != u128::MAX {
                out.push('/');
                put_hex(out, &m.to_be_bytes());
            }
            out.push(',');
        }
        if let Some(h) = helper {
            let _ = write!(out, "helper={h},");
        }
        if let Some(t) = timeout {
            let _ = write!(out, "timeout={t},");
        }
        if let Some(n) = nat {
            format_nat(out, n);
        }
        chomp(out, ',');
        out.push(')');
    }
}

fn format_push_nsh(out: &mut String, attrs: &[NshAttr]) {
    let f = nsh_fields(attrs, 0);
    let _ = write!(
        out,
        "push_nsh(flags={},ttl={},mdtype={},np={},spi=0x{:x},si={}",
        f.flags,
        f.ttl,
        f.mdtype,
        f.np,
        f.path_hdr >> 8,
        f.path_hdr & 0xff
    );
    match f.mdtype {
        1 => {
            for (i, c) in f.context.iter().enumerate() {
                let _ = write!(out, ",c{}=0x{:x}", i + 1, c);
            }
        }
        2 => {
            out.push_str(",md2=");
            let md2 = attrs
                .iter()
                .find_map(|a| match a {
                    NshAttr::Md2(d) => Some(d.as_slice()),
                    _ => None,
                })
                .unwrap_or(&[]);
            put_hex(out, md2);
        }
        _ => out.push_str(",<error: unknown mdtype>"),
    }
    out.push(')');
}

/// Prints one action.
pub fn format_action(out: &mut String, a: &Action, opts: &FormatOptions<'_>) {
    use Action::*;
    match a {
        Meter(v) => {
            let _ = write!(out, "meter({v})");
        }
        Output(p) => port_name(out, *p, opts),
        LbOutput(v) => {
            let _ = write!(out, "lb_output({v})");
        }
        Trunc(v) => {
            let _ = write!(out, "trunc({v})");
        }
        TunnelPush(t) => super::tnl_push::format_tnl_push(out, t, opts),
        TunnelPop(p) => {
            out.push_str("tnl_pop(");
            port_name(out, *p, opts);
            out.push(')');
        }
        Userspace(u) => format_userspace(out, u, opts),
        Recirc(v) => {
            let _ = write!(out, "recirc({})", hx((*v).into()));
        }
        Hash { alg, basis } => match *alg {
            OVS_HASH_ALG_L4 => {
                let _ = write!(out, "hash(l4({basis}))");
            }
            OVS_HASH_ALG_SYM_L4 => {
                let _ = write!(out, "hash(sym_l4({basis}))");
            }
            _ => {
                let _ = write!(out, "hash(Unknown hash algorithm({alg}))");
            }
        },
        SetMasked { key, mask } => {
            if let (KeyAttr::Nsh(k), KeyAttr::Nsh(m)) = (key, mask) {
                out.push_str("set(nsh(");
                let kf = nsh_fields(k, 0);
                let mut mf = nsh_fields(&[], 0xff);
                let mb = nsh_fields(m, 0xff);
                for x in m {
                    match x {
                        NshAttr::Base { .. } => {
                            mf.flags = mb.flags;
                            mf.ttl = mb.ttl;
                            mf.mdtype = mb.mdtype;
                            mf.np = mb.np;
                            mf.path_hdr = mb.path_hdr;
                        }
                        NshAttr::Md1(_) => mf.context = mb.context,
                        _ => {}
                    }
                }
                format_nsh_key_mask(out, &kf, &mf);
                out.push_str("))");
                return;
            }
            out.push_str("set(");
            // Keys inside set actions never use port names.
            let o = FormatOptions {
                verbose: false,
                port_names: None,
            };
            if key.payload().len() <= 40 {
                format_key_attr(out, key, Some(mask), &o);
            } else {
                format_key_attr(out, key, None, &o);
            }
            out.push(')');
        }
        Set(key) => {
            out.push_str("set(");
            let o = FormatOptions {
                verbose: true,
                port_names: None,
            };
            format_key_attr(out, key, None, &o);
            out.push(')');
        }
        PushEth { src, dst } => {
            let _ = write!(out, "push_eth(src={},dst={})", fmt_mac(src), fmt_mac(dst));
        }
        PopEth => out.push_str("pop_eth"),
        PushVlan { tpid, tci } => {
            out.push_str("push_vlan(");
            if *tpid != 0x8100 {
                let _ = write!(out, "tpid=0x{tpid:04x},");
            }
            // With an exact mask, vid and pcp are always printed.
            let _ = write!(out, "vid={},pcp={}", tci & 0xfff, tci >> 13);
            if tci & 0x1000 == 0 {
                out.push_str(",cfi=0");
            }
            out.push(')');
        }
        PopVlan => out.push_str("pop_vlan"),
        PushMpls { lse, ethertype } => {
            out.push_str("push_mpls(");
            format_mpls_lse(out, *lse);
            let _ = write!(out, ",eth_type=0x{ethertype:x})");
        }
        PopMpls(e) => {
            let _ = write!(out, "pop_mpls(eth_type=0x{e:x})");
        }
        Sample {
            probability,
            actions,
        } => {
            let pct = 100.0 * f64::from(*probability) / f64::from(u32::MAX);
            let _ = write!(out, "sample(sample={pct:.1}%,actions(");
            format_action_list(out, actions, opts);
            out.push_str("))");
        }
        Ct(attrs) => format_ct(out, attrs),
        CtClear => out.push_str("ct_clear"),
        Clone(actions) => {
            out.push_str("clone(");
            format_action_list(out, actions, opts);
            out.push(')');
        }
        PushNsh(attrs) => format_push_nsh(out, attrs),
        PopNsh => out.push_str("pop_nsh()"),
        CheckPktLen { pkt_len, gt, le } => {
            let _ = write!(out, "check_pkt_len(size={pkt_len},gt(");
            format_action_list(out, gt, opts);
            out.push_str("),le(");
            format_action_list(out, le, opts);
            out.push_str("))");
        }
        AddMpls { lse, ethertype, .. } => {
            out.push_str("add_mpls(");
            format_mpls_lse(out, *lse);
            let _ = write!(out, ",eth_type=0x{ethertype:x})");
        }
        DecTtl(actions) => {
            out.push_str("dec_ttl(le_1(");
            format_action_list(out, actions, opts);
            out.push_str("))");
        }
        Drop(_) => out.push_str("drop"),
        Unknown { ty, data } => {
            let _ = write!(out, "action{ty}");
            if !data.is_empty() {
                out.push('(');
                put_spaced_hex(out, data);
                out.push(')');
            }
        }
    }
}
