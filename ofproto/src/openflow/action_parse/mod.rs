//! OpenFlow actions as ovs-ofctl writes them (ovs-actions(7)), parsed into
//! the owned model of [`super::actions`] the way stock Open vSwitch's
//! `ofpacts_parse_actions()` parses them, for `ofproto/trace-packet-out`.
//!
//! Callers show the errors to users who compare them with stock's, so the
//! grammar, the error texts and the quirks follow stock's parser: C's
//! numeric conversions (octal after a leading 0, silent truncation to
//! 32 bits), a missing `)` ending the list without complaint, instructions
//! refused only after the whole list has parsed. Nicira actions are built
//! as the wire bytes stock's encoder writes and read back through the
//! decoder, so that the decoder's checks (stock's) apply to them too.

use crate::openflow::actions::{self, port, Action, SetFieldRaw, NX_VENDOR};
use crate::openflow::fields::{by_name, id, port_from_of11, port_to_of11, FIELDS};
use crate::openflow::wire::Put;
use std::net::{Ipv4Addr, Ipv6Addr};

mod basic;
mod field;
mod nested;
mod scan;
#[cfg(test)]
mod tests;

use self::basic::*;
use self::field::*;
use self::nested::*;
use self::scan::*;

/// Parses an action list (`output:2,mod_dl_src:...,resubmit(,1)`) as
/// stock's ofpacts_parse_actions does.
pub fn parse_actions(s: &str) -> Result<Vec<Action>, String> {
    let parsed = parse_list(s, Outer::Top, 0)?;
    Ok(parsed.into_iter().filter_map(|p| p.action).collect())
}

/// Stock refuses to nest actions (clone, ct, write_actions) deeper.
const MAX_DEPTH: u32 = 100;

/// ct's recirc_table when it does not recirculate.
const CT_NO_RECIRC: u8 = 255;
const CT_COMMIT: u16 = 1;
const CT_FORCE: u16 = 2;

const NAT_SRC: u16 = 1;
const NAT_DST: u16 = 2;
const NAT_PERSISTENT: u16 = 4;
const NAT_PROTO_HASH: u16 = 8;
const NAT_PROTO_RANDOM: u16 = 16;

/// controller's default: no meter.
const NO_METER: u32 = u32::MAX;
/// OFPR_ACTION, controller's default packet-in reason.
const REASON_ACTION: u8 = 1;

// ---------------------------------------------------------------------
// Splitting a list into items.

/// Stock's `ofputil_parse_key_value()`: yields `key:value`, `key=value`,
/// `key(value)` and bare `key` items separated by commas or white space.
/// A value in parentheses runs to its matching `)`, or to the end of the
/// string when there is none (stock does not complain).
struct KeyValues<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> KeyValues<'a> {
    fn new(s: &'a str) -> Self {
        KeyValues { s, pos: 0 }
    }
}

const ITEM_SEPARATORS: &[u8] = b", \t\r\n";

impl<'a> Iterator for KeyValues<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        // Every index below sits on an ASCII delimiter or the end, so the
        // slices keep to character boundaries.
        let b = self.s.as_bytes();
        while b.get(self.pos).is_some_and(|c| ITEM_SEPARATORS.contains(c)) {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let key_start = self.pos;
        let key_end = b[key_start..]
            .iter()
            .position(|c| b":=(, \t\r\n".contains(c))
            .map_or(b.len(), |n| key_start + n);
        let key = &self.s[key_start..key_end];
        let delim = b.get(key_end).copied();
        self.pos = key_end + usize::from(delim.is_some());
        let value_delims: &[u8] = match delim {
            Some(b':' | b'=') => ITEM_SEPARATORS,
            Some(b'(') => b")",
            _ => return Some((key, "")),
        };
        let start = self.pos;
        let mut end = start + value_len(&b[start..], value_delims);
        // `check_pkt_larger(1500)->reg0[0]`: the value goes on past ")->".
        if delim == Some(b'(') && b.get(end) == Some(&b')') && b[end + 1..].starts_with(b"->") {
            end += value_len(&b[end..], ITEM_SEPARATORS);
        }
        self.pos = end + usize::from(end < b.len());
        Some((key, &self.s[start..end]))
    }
}

/// Stock's `parse_value()`: the length of the value at the start of `s`,
/// up to one of `delims`, skipping over parenthesized groups.
fn value_len(s: &[u8], delims: &[u8]) -> usize {
    let mut n = 0;
    while n < s.len() && !delims.contains(&s[n]) {
        if s[n] != b'(' {
            n += 1;
            continue;
        }
        let mut level = 0;
        loop {
            match s.get(n) {
                None => return n,
                Some(b'(') => level += 1,
                Some(b')') => level -= 1,
                Some(_) => {}
            }
            n += 1;
            if level <= 0 {
                break;
            }
        }
    }
    n
}

// ---------------------------------------------------------------------
// Parsed items and stock's checks of a whole list.

/// Where an action list sits: nested lists allow fewer actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outer {
    Top,
    Clone,
    Ct,
    WriteActions,
}

impl Outer {
    fn name(self) -> &'static str {
        match self {
            Outer::Top => "",
            Outer::Clone => "clone",
            Outer::Ct => "ct",
            Outer::WriteActions => "write_actions",
        }
    }
}

/// OpenFlow 1.1+ instructions, in the order a rule must list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Inst {
    Meter,
    Apply,
    Clear,
    Write,
    WriteMetadata,
    Goto,
}

impl Inst {
    fn name(self) -> &'static str {
        match self {
            Inst::Meter => "meter",
            Inst::Apply => "apply_actions",
            Inst::Clear => "clear_actions",
            Inst::Write => "write_actions",
            Inst::WriteMetadata => "write_metadata",
            Inst::Goto => "goto_table",
        }
    }
}

/// One parsed item of a list, with what stock's checks look at.
#[derive(Debug)]
struct Parsed {
    /// The action; None for instructions, which a list of actions never
    /// keeps (stock refuses them once the whole list has parsed).
    action: Option<Action>,
    /// Stock's name for the kind of action (`ofpact_name()`), for errors.
    name: &'static str,
    inst: Inst,
    /// The field that set_field, load and move write.
    dst: Option<usize>,
}

impl Parsed {
    fn action(name: &'static str, a: Action) -> Parsed {
        Parsed {
            action: Some(a),
            name,
            inst: Inst::Apply,
            dst: None,
        }
    }

    fn writing(name: &'static str, a: Action, field: usize) -> Parsed {
        Parsed {
            dst: Some(field),
            ..Parsed::action(name, a)
        }
    }

    fn instruction(inst: Inst, action: Option<Action>) -> Parsed {
        Parsed {
            action,
            name: inst.name(),
            inst,
            dst: None,
        }
    }
}

/// An item of a list: `drop` only says the list is empty.
enum Item {
    Drop,
    Parsed(Parsed),
}

/// Stock's `ofpacts_parse()`: a list of items inside `outer`, checked as
/// a whole once parsed.
fn parse_list(s: &str, outer: Outer, depth: u32) -> Result<Vec<Parsed>, String> {
    if depth >= MAX_DEPTH {
        return Err("Action nested too deeply".into());
    }
    let mut out = Vec::new();
    let mut drop = false;
    for (key, value) in KeyValues::new(s) {
        match parse_item(key, value, depth)? {
            Item::Drop => drop = true,
            Item::Parsed(p) => out.push(p),
        }
    }
    if drop && !out.is_empty() {
        return Err("\"drop\" must not be accompanied by any other action or instruction".into());
    }
    verify(&out, outer)?;
    Ok(out)
}

fn is_ct_field(f: usize) -> bool {
    f == id::CT_MARK || f == id::CT_LABEL
}

/// Stock's `ofpacts_verify()` for a list parsed inside `outer`: nesting
/// rules, then instruction order, then instructions a list of actions
/// may not have.
fn verify(list: &[Parsed], outer: Outer) -> Result<(), String> {
    let mut inst = Inst::Meter;
    for (i, p) in list.iter().enumerate() {
        verify_nested(p, outer)?;
        let next = p.inst;
        let misordered = if inst == Inst::Apply {
            next < inst
        } else {
            next <= inst
        };
        if i > 0 && misordered {
            return Err(if next == inst {
                format!(
                    "duplicate {} instruction not allowed, for OpenFlow 1.1+ compatibility",
                    inst.name()
                )
            } else {
                format!(
                    "invalid instruction ordering: {} must appear before {}, for OpenFlow 1.1+ compatibility",
                    next.name(),
                    inst.name()
                )
            });
        }
        if !matches!(next, Inst::Meter | Inst::Apply) {
            return Err(format!("{} instruction not allowed here", next.name()));
        }
        inst = next;
    }
    Ok(())
}

/// Stock's `ofpacts_verify_nested()`.
fn verify_nested(p: &Parsed, outer: Outer) -> Result<(), String> {
    if p.dst.is_some_and(is_ct_field) && outer != Outer::Ct {
        return Err("cannot set CT fields outside of ct action".into());
    }
    if p.name == "nat" {
        if outer != Outer::Ct {
            return Err("Cannot have NAT action outside of \"ct\" action".into());
        }
        return Ok(());
    }
    let unsupported = || {
        format!(
            "{} action doesn't support nested action {}",
            outer.name(),
            p.name
        )
    };
    if outer == Outer::Ct {
        match p.dst {
            None => return Err(unsupported()),
            Some(f) if !is_ct_field(f) => {
                return Err(format!(
                    "ct action doesn't support nested modification of {}",
                    FIELDS[f].name
                ))
            }
            Some(_) => {}
        }
    }
    if outer != Outer::Top && p.inst == Inst::Meter {
        return Err(unsupported());
    }
    Ok(())
}

/// One `key[:value]` item, by stock's names (any case) and then as a port.
fn parse_item(key: &str, value: &str, depth: u32) -> Result<Item, String> {
    let lower = key.to_ascii_lowercase();
    let p = match lower.as_str() {
        "output" | "output_reg" => parse_output(value)?,
        "controller" => parse_controller(value)?,
        "enqueue" => parse_enqueue(value)?,
        "group" => Parsed::action("group", Action::Group(str_to_u32(value)?)),
        "set_queue" => Parsed::action("set_queue", Action::SetQueue(str_to_u32(value)?)),
        "pop_queue" => Parsed::action("pop_queue", nx_action(5, 16, |_| {})?),
        "set_vlan_vid" | "mod_vlan_vid" => parse_vlan_vid(value)?,
        "set_vlan_pcp" | "mod_vlan_pcp" => parse_vlan_pcp(value)?,
        "strip_vlan" | "pop_vlan" => Parsed::action("strip_vlan", Action::StripVlan),
        "push_vlan" => parse_push_vlan(value)?,
        "mod_dl_src" | "mod_dl_dst" => parse_mod_dl(&lower, value)?,
        "mod_nw_src" | "mod_nw_dst" => parse_mod_nw(&lower, value)?,
        "mod_nw_tos" => parse_mod_nw_tos(value)?,
        "mod_nw_ecn" => parse_mod_nw_ecn(value)?,
        "mod_nw_ttl" | "set_nw_ttl" => {
            Parsed::action("mod_nw_ttl", Action::SetIpTtl(str_to_u8(value, "TTL")?))
        }
        "mod_tp_src" => Parsed::action(
            "mod_tp_src",
            Action::SetL4Src(str_to_u16(value, "source port")?),
        ),
        "mod_tp_dst" => Parsed::action(
            "mod_tp_dst",
            Action::SetL4Dst(str_to_u16(value, "destination port")?),
        ),
        "dec_ttl" => parse_dec_ttl(value)?,
        "set_mpls_label" => parse_set_mpls_label(value)?,
        "set_mpls_tc" => parse_set_mpls_tc(value)?,
        "set_mpls_ttl" => parse_set_mpls_ttl(value)?,
        "dec_mpls_ttl" => Parsed::action("dec_mpls_ttl", Action::DecMplsTtl),
        "push_mpls" => Parsed::action(
            "push_mpls",
            Action::PushMpls(str_to_u16(value, "push_mpls")?),
        ),
        "pop_mpls" => Parsed::action("pop_mpls", Action::PopMpls(str_to_u16(value, "pop_mpls")?)),
        "set_tunnel" => parse_set_tunnel(value, false)?,
        "set_tunnel64" => parse_set_tunnel(value, true)?,
        "set_field" => parse_set_field(value)?,
        "load" => parse_load(value)?,
        "move" => parse_move(value)?,
        "push" => parse_stack(false, value)?,
        "pop" => parse_stack(true, value)?,
        "resubmit" => parse_resubmit(value)?,
        "note" => parse_note(value)?,
        "exit" => Parsed::action("exit", nx_action(17, 16, |_| {})?),
        "ct_clear" => Parsed::action("ct_clear", nx_action(43, 16, |_| {})?),
        "check_pkt_larger" => parse_check_pkt_larger(value)?,
        "fin_timeout" => parse_fin_timeout(value)?,
        "clone" => parse_clone(value, depth)?,
        "ct" => parse_ct(value, depth)?,
        "nat" => parse_nat(value)?,
        "meter" => Parsed::instruction(Inst::Meter, Some(Action::Meter(str_to_u32(value)?))),
        "clear_actions" => Parsed::instruction(Inst::Clear, None),
        "write_actions" => {
            // Only for the errors of the nested actions: a list of actions
            // refuses the instruction itself once parsed.
            parse_list(value, Outer::WriteActions, depth + 1)?;
            Parsed::instruction(Inst::Write, None)
        }
        "write_metadata" => parse_write_metadata(value)?,
        "goto_table" => match table_from_string(value) {
            Some(_) => Parsed::instruction(Inst::Goto, None),
            None => return Err(format!("unknown table \"{value}\"")),
        },
        // Stock hides output_trunc behind output(port=...,max_len=...).
        "output_trunc" => return Err(format!("unknown action {value}")),
        "unroll_xlate" => {
            return Err("UNROLL is an internal action that shouldn't be used via OpenFlow".into())
        }
        "bundle" | "bundle_load" | "learn" | "conjunction" | "multipath" | "sample" | "encap"
        | "decap" | "dec_nsh_ttl" | "delete_field" | "debug_recirc" | "debug_slow" => {
            return Err(unsupported(&lower))
        }
        "drop" => return Ok(Item::Drop),
        "apply_actions" => return Err("apply_actions is the default instruction".into()),
        _ => match port_from_string(key) {
            // A bare port outputs with max_len 0, even to CONTROLLER.
            Some(p) => Parsed::action(
                "output",
                Action::Output {
                    port: p,
                    max_len: 0,
                },
            ),
            None => return Err(format!("unknown action {key}")),
        },
    };
    Ok(Item::Parsed(p))
}

fn unsupported(what: &str) -> String {
    format!("{what}: not supported by ferrovs's action parser")
}

// ---------------------------------------------------------------------
// Nicira actions as wire bytes.

/// A Nicira action of `subtype`: the header, what `body` writes, zeros
/// up to `min_len` bytes and to a multiple of 8, with its length set.
fn nx_bytes(subtype: u16, min_len: usize, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = Vec::with_capacity(min_len.max(16));
    b.put_u16(0xffff);
    b.put_u16(0);
    b.put_u32(NX_VENDOR);
    b.put_u16(subtype);
    body(&mut b);
    if b.len() < min_len {
        b.put_zeros(min_len - b.len());
    }
    b.pad_to(8);
    let len = b.len() as u16;
    b.set_u16(2, len);
    b
}

/// [`nx_bytes`] read back through the decoder. What the decoder refuses
/// stock refuses too, when trace-packet-out checks the actions, with
/// "Bad actions: ERROR".
fn nx_action(
    subtype: u16,
    min_len: usize,
    body: impl FnOnce(&mut Vec<u8>),
) -> Result<Action, String> {
    let bytes = nx_bytes(subtype, min_len, body);
    match actions::decode(1, &bytes) {
        Ok(mut acts) if acts.len() == 1 => Ok(acts.remove(0)),
        Ok(_) => Err(format!("nx_action({subtype}): decodes to no single action")),
        Err(e) => Err(format!("Bad actions: {e:?}")),
    }
}
