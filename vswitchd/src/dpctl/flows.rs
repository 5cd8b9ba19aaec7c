//! The flow commands: dump-flows, add-flow, mod-flow, get-flow,
//! del-flow, del-flows and the file forms add-flows, mod-flows,
//! del-flows FILE.

use std::collections::HashMap;
use std::fmt::Write;

use ferrovs_dpif::odp::{self, FormatOptions, Key, KeyAttr};
use ferrovs_dpif::{DpFlow, Dpif, FlowId, FlowPut, FlowStats, PutFlags};

use super::{find, opt_dp, strerror, BTreeDps, Out, Params};
use crate::bridge::lock_dpif;
use ferrovs_dpif::flow_filter::FlowFilter as Filter;

/// `packets:N, bytes:N, used:X` (+ `, flags:...`), as stock formats flow
/// statistics.
fn format_stats(s: &FlowStats) -> String {
    let mut out = format!("packets:{}, bytes:{}, used:", s.n_packets, s.n_bytes);
    if s.used_ms == 0 {
        out.push_str("never");
    } else {
        let now = ferrovs_netdev::dev::sys::monotonic_ms();
        let ago = now.saturating_sub(s.used_ms);
        let _ = write!(out, "{}.{:03}s", ago / 1000, ago % 1000);
    }
    if s.tcp_flags != 0 {
        out.push_str(", flags:");
        out.push_str(&tcp_flags_text(s.tcp_flags));
    }
    out
}

fn tcp_flags_text(f: u16) -> String {
    const NAMES: &[(u16, &str)] = &[
        (0x001, "F"),
        (0x002, "S"),
        (0x004, "R"),
        (0x008, "P"),
        (0x010, "."),
        (0x020, "U"),
        (0x040, "E"),
        (0x080, "C"),
        (0x100, "N"),
    ];
    NAMES
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Where stock's userspace datapath prints each metadata attribute (it
/// rebuilds keys from its own flow): these first, in this order, then
/// the packet fields in the order given.
fn attr_rank(a: &KeyAttr) -> u8 {
    match a {
        KeyAttr::Priority(_) => 0,
        KeyAttr::Tunnel(_) => 1,
        KeyAttr::SkbMark(_) => 2,
        KeyAttr::CtState(_) => 3,
        KeyAttr::CtZone(_) => 4,
        KeyAttr::CtMark(_) => 5,
        KeyAttr::CtLabels(_) => 6,
        KeyAttr::RecircId(_) => 8,
        KeyAttr::DpHash(_) => 9,
        KeyAttr::InPort(_) => 10,
        KeyAttr::PacketType(_) => 11,
        _ => 20,
    }
}

/// A flow's key and mask as the userspace datapath reports them: with
/// `recirc_id(0)` when the flow did not name one (its flows always match
/// it exactly) and the metadata in stock's order. `verbose` (`-m`) adds
/// the wildcarded metadata stock's datapath always reports.
fn userspace_view(f: &DpFlow, verbose: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut k = Key::from_nlattrs(&f.key).ok()?;
    let mut m = Key::from_nlattrs(&f.mask).ok()?;
    if !k.attrs.iter().any(|a| matches!(a, KeyAttr::RecircId(_))) {
        k.attrs.push(KeyAttr::RecircId(0));
        if !f.mask.is_empty() {
            m.attrs.push(KeyAttr::RecircId(u32::MAX));
        }
    }
    if verbose && !f.mask.is_empty() {
        for a in [
            KeyAttr::Priority(0),
            KeyAttr::SkbMark(0),
            KeyAttr::CtState(0),
            KeyAttr::CtZone(0),
            KeyAttr::CtMark(0),
            KeyAttr::CtLabels(0),
            KeyAttr::DpHash(0),
            KeyAttr::PacketType(0),
        ] {
            let ty = a.attr_type();
            if !k.attrs.iter().any(|x| x.attr_type() == ty) {
                m.attrs.push(a.zero_mask());
                k.attrs.push(a);
            }
        }
    }
    k.attrs.sort_by_key(attr_rank);
    m.attrs.sort_by_key(attr_rank);
    Some((k.to_nlattrs().ok()?, m.to_nlattrs().ok()?))
}

fn port_names(dp: &mut Box<dyn Dpif>) -> HashMap<u32, String> {
    dp.port_dump()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.port_no, p.name))
        .collect()
}

fn name_ports(dp: &mut Box<dyn Dpif>) -> HashMap<String, u32> {
    dp.port_dump()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.port_no))
        .collect()
}

/// One flow as `dump-flows` prints it.
fn format_flow(
    dp_type: &str,
    f: &DpFlow,
    names: Option<&HashMap<u32, String>>,
    p: &Params,
) -> String {
    let mut s = String::new();
    if p.verbosity > 0 {
        if let Some(u) = f.ufid {
            s.push_str(&odp::format_ufid(u));
            s.push_str(", ");
        }
    }
    let opts = FormatOptions {
        verbose: p.verbosity > 0,
        port_names: names,
    };
    let userspace = dp_type != "system";
    let (key, mask) = if userspace {
        userspace_view(f, p.verbosity > 0).unwrap_or_else(|| (f.key.clone(), f.mask.clone()))
    } else {
        (f.key.clone(), f.mask.clone())
    };
    if odp::format_flow(&key, &mask, &opts, &mut s).is_err() {
        s.push_str("<error decoding key>");
    }
    s.push_str(", ");
    s.push_str(&format_stats(&f.stats));
    if p.verbosity > 0 && userspace {
        s.push_str(", dp:ovs");
    }
    s.push_str(", actions:");
    let aopts = FormatOptions {
        verbose: false,
        port_names: names,
    };
    if odp::format_actions(&f.actions, &aopts, &mut s).is_err() {
        s.push_str("<error decoding actions>");
    }
    s
}

pub(super) fn dump_flows(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out) -> i32 {
    let mut args: Vec<&str> = args.to_vec();
    let mut filter: Option<&str> = None;
    let mut types: Option<&str> = None;
    while let Some(last) = args.last().copied() {
        if let (Some(f), None) = (last.strip_prefix("filter="), filter) {
            filter = Some(f);
        } else if let (Some(t), None) = (last.strip_prefix("type="), types) {
            types = Some(t);
        } else if last.starts_with("pmd=") {
            // Flows live in the main thread here, as in stock with
            // non-DPDK ports; any pmd id selects them all.
        } else {
            break;
        }
        args.pop();
    }
    let Some(d) = opt_dp(&args, dps, 2, out) else {
        return libc::EINVAL;
    };
    if let Some(t) = types {
        for ty in t.split(',').filter(|t| !t.is_empty()) {
            if !matches!(
                ty,
                "ovs"
                    | "tc"
                    | "dpdk"
                    | "offloaded"
                    | "non-offloaded"
                    | "partially-offloaded"
                    | "all"
            ) {
                out.error(libc::EINVAL, &format!("Failed to parse type ({ty})"));
                return libc::EINVAL;
            }
        }
    }
    let mut dp = lock_dpif(d.dpif);
    let names = p.names.then(|| port_names(&mut dp));
    let filter = match filter.map(|f| Filter::parse(f, &name_ports(&mut dp))) {
        Some(Err(e)) => {
            out.error(0, &format!("Failed to parse filter ({e})"));
            return libc::EINVAL;
        }
        Some(Ok(f)) => Some(f),
        None => None,
    };
    let dp_type = dp.dp_type().to_string();
    let flows = match dp.flow_dump() {
        Ok(f) => f,
        Err(e) => {
            out.error(e.errno, "Failed to dump flows from datapath");
            return e.errno;
        }
    };
    let mut header = dp_type != "system";
    for f in flows {
        if let Some(flt) = &filter {
            if !flt.matches(&f.key, &f.mask) {
                continue;
            }
        }
        if header {
            out.print("flow-dump from the main thread:\n");
            header = false;
        }
        out.print(&format_flow(&dp_type, &f, names.as_ref(), p));
        out.print("\n");
    }
    0
}

/// What a put does to an existing or missing flow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PutKind {
    Create,
    Modify,
}

pub(super) fn put_flow(
    args: &[&str],
    dps: &BTreeDps<'_>,
    p: &Params,
    out: &mut Out,
    modify: bool,
) -> i32 {
    let Some(d) = opt_dp(args, dps, 4, out) else {
        return libc::EINVAL;
    };
    let (Some(key_s), Some(actions_s)) = (
        args.len().checked_sub(2).and_then(|i| args.get(i)),
        args.last(),
    ) else {
        return libc::EINVAL;
    };
    let mut dp = lock_dpif(d.dpif);
    let kind = if modify {
        PutKind::Modify
    } else {
        PutKind::Create
    };
    put_flow_dp(&mut dp, key_s, actions_s, kind, p, out)
}

fn put_flow_dp(
    dp: &mut Box<dyn Dpif>,
    key_s: &str,
    actions_s: &str,
    kind: PutKind,
    p: &Params,
    out: &mut Out,
) -> i32 {
    let names = name_ports(dp);
    let parsed = match parse_key(key_s, &names, out, |e| format!("parsing flow key ({e})")) {
        Ok(f) => f,
        Err(errno) => return errno,
    };
    let actions = match odp::parse_actions_as_stock(actions_s, None) {
        Ok(a) => a,
        Err(_) => {
            out.error(libc::EINVAL, "parsing actions");
            return libc::EINVAL;
        }
    };
    let flags = match kind {
        PutKind::Modify => PutFlags {
            create: p.may_create,
            modify: true,
            zero_stats: p.zero_statistics,
        },
        PutKind::Create => PutFlags {
            create: true,
            modify: false,
            zero_stats: false,
        },
    };
    let put = FlowPut {
        flags,
        key: &parsed.key,
        mask: &parsed.mask,
        actions: &actions,
        ufid: parsed.ufid,
    };
    match dp.flow_put(&put) {
        Ok(old) => {
            if p.print_statistics {
                out.print(&format_stats(&old.unwrap_or_default()));
                out.print("\n");
            }
            0
        }
        Err(e) => {
            let what = if kind == PutKind::Modify {
                "modify"
            } else {
                "create"
            };
            log::warn!(target: "dpif", "{}@{}: failed to put[{what}] ({})", dp.dp_type(), dp.name(), strerror(e.errno));
            out.error(e.errno, "updating flow table");
            e.errno
        }
    }
}

/// Parses `[ufid:UUID,]KEY`; a UFID that does not parse is an error.
fn parse_key(
    key_s: &str,
    names: &HashMap<String, u32>,
    out: &mut Out,
    what: impl Fn(&str) -> String,
) -> Result<odp::ParsedFlow, i32> {
    if key_s.trim_start().starts_with("ufid:") && ufid_prefix(key_s).is_none() {
        out.error(libc::EINVAL, "parsing flow ufid");
        return Err(libc::EINVAL);
    }
    odp::parse_flow(key_s, Some(names)).map_err(|e| {
        out.error(libc::EINVAL, &what(&e.message));
        libc::EINVAL
    })
}

/// The UFID a text starts with (`ufid:UUID`), if it is a valid one.
fn ufid_prefix(s: &str) -> Option<u128> {
    let t = s.trim_start().strip_prefix("ufid:")?;
    odp::parse_ufid(t)
}

pub(super) fn get_flow(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out) -> i32 {
    let Some(d) = opt_dp(args, dps, 3, out) else {
        return libc::EINVAL;
    };
    let key_s = args.last().copied().unwrap_or("");
    let Some(ufid) = ufid_prefix(key_s) else {
        let errno = if key_s.trim_start().starts_with("ufid:") {
            libc::EINVAL
        } else {
            0
        };
        out.error(errno, "parsing flow ufid");
        // Stock goes on with error 0 here: the reply is not an error.
        return errno;
    };
    let mut dp = lock_dpif(d.dpif);
    let names = p.names.then(|| port_names(&mut dp));
    let dp_type = dp.dp_type().to_string();
    match dp.flow_get(FlowId::Ufid(ufid)) {
        Ok(f) => {
            out.print(&format_flow(&dp_type, &f, names.as_ref(), p));
            out.print("\n");
            0
        }
        Err(e) => {
            out.error(e.errno, "getting flow");
            e.errno
        }
    }
}

pub(super) fn del_flow(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out) -> i32 {
    let Some(d) = opt_dp(args, dps, 3, out) else {
        return libc::EINVAL;
    };
    let key_s = args.last().copied().unwrap_or("");
    let mut dp = lock_dpif(d.dpif);
    del_flow_dp(&mut dp, key_s, p, out)
}

fn del_flow_dp(dp: &mut Box<dyn Dpif>, key_s: &str, p: &Params, out: &mut Out) -> i32 {
    let names = name_ports(dp);
    let given_ufid = ufid_prefix(key_s);
    let parsed = match parse_key(key_s, &names, out, |e| e.to_string()) {
        Ok(f) => f,
        Err(errno) => return errno,
    };
    let id = match given_ufid.or(parsed.ufid) {
        Some(u) => FlowId::Ufid(u),
        None => FlowId::Key(&parsed.key),
    };
    match dp.flow_del(id) {
        Ok(stats) => {
            if p.print_statistics {
                out.print(&format_stats(&stats));
                out.print("\n");
            }
            0
        }
        Err(e) => {
            out.error(e.errno, "deleting flow");
            if e.errno == libc::ENOENT && given_ufid.is_none() {
                out.print("Perhaps you need to specify a UFID?\n");
            }
            e.errno
        }
    }
}

pub(super) fn del_flows(args: &[&str], dps: &BTreeDps<'_>, p: &Params, out: &mut Out) -> i32 {
    let named = args.first().is_some_and(|a| find(dps, a).is_some());
    if (!named && args.len() == 1) || args.len() > 1 {
        return process_flows(args, dps, p, out, FileCmd::Delete);
    }
    let Some(d) = opt_dp(args, dps, 2, out) else {
        return libc::EINVAL;
    };
    let mut dp = lock_dpif(d.dpif);
    match dp.flow_flush() {
        Ok(()) => 0,
        Err(e) => {
            out.error(e.errno, "deleting all flows");
            e.errno
        }
    }
}

/// What a line of a flow file does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FileCmd {
    Add,
    Modify,
    Delete,
}

/// Splits a flow file's line into its command (the default unless it
/// starts with `add`, `modify` or `delete`), flow and actions.
fn parse_flow_line(line: &str, default: FileCmd) -> (FileCmd, Option<&str>, Option<&str>) {
    let mut rest = line.trim_start();
    let word_end = rest
        .find([',', ' ', '\t', '\r', '\n'])
        .unwrap_or(rest.len());
    let word = &rest[..word_end];
    // Stock compares only as many letters as the word has ("a" is add).
    let cmd = if word.is_empty() {
        None
    } else if "add".starts_with(word) {
        Some(FileCmd::Add)
    } else if "delete".starts_with(word) {
        Some(FileCmd::Delete)
    } else if "modify".starts_with(word) {
        Some(FileCmd::Modify)
    } else {
        None
    };
    if cmd.is_some() {
        rest = &rest[word_end..];
    }
    let rest = rest.trim_start();
    let flow_end = rest.find([' ', '\t', '\r', '\n']).unwrap_or(rest.len());
    let flow = &rest[..flow_end];
    let actions = rest[flow_end..].trim();
    (
        cmd.unwrap_or(default),
        (!flow.is_empty()).then_some(flow),
        (!actions.is_empty()).then_some(actions),
    )
}

/// `add-flows`, `mod-flows`, `del-flows` with a file (`-` is not
/// available: the daemon has no standard input to read). As in stock,
/// errors are reported in the output, never as a failed command.
pub(super) fn process_flows(
    args: &[&str],
    dps: &BTreeDps<'_>,
    p: &Params,
    out: &mut Out,
    default: FileCmd,
) -> i32 {
    let Some(d) = opt_dp(args, dps, 4, out) else {
        return libc::EINVAL;
    };
    let file = args.last().copied().unwrap_or("");
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            out.error(errno, &format!("Opening file \"{file}\" failed"));
            return 0;
        }
    };
    let mut dp = lock_dpif(d.dpif);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        if line.trim().is_empty() {
            continue;
        }
        let (cmd, flow, actions) = parse_flow_line(line, default);
        match (cmd, flow, actions) {
            (FileCmd::Add, Some(f), Some(a)) => {
                put_flow_dp(&mut dp, f, a, PutKind::Create, p, out);
            }
            (FileCmd::Modify, Some(f), Some(a)) => {
                put_flow_dp(&mut dp, f, a, PutKind::Modify, p, out);
            }
            (FileCmd::Delete, Some(f), None) => {
                del_flow_dp(&mut dp, f, p, out);
            }
            _ => out.error(
                0,
                &format!("Failed parsing line number {}, skipped!", n + 1),
            ),
        }
    }
    0
}

/// `dpif/dump-flows [-m] [--names | --no-names] BRIDGE`: the flows of
/// `dp` whose input port is one of `in_ports` (the bridge's), as stock's
/// ofproto prints them: no thread header, and with `-m` the UFID then a
/// space before the key and no datapath layer.
pub(crate) fn dump_for_ports(
    dpif: &crate::bridge::SharedDpif,
    in_ports: &std::collections::BTreeSet<u32>,
    verbose: bool,
    names: bool,
) -> Result<String, String> {
    let mut dp = lock_dpif(dpif);
    let names = names.then(|| port_names(&mut dp));
    let userspace = dp.dp_type() != "system";
    let flows = dp
        .flow_dump()
        .map_err(|e| format!("dpif/dump_flows failed: {}", strerror(e.errno)))?;
    drop(dp);
    let opts = FormatOptions {
        verbose,
        port_names: names.as_ref(),
    };
    let mut s = String::new();
    for f in flows {
        if !crate::upcall::key_in_port(&f.key).is_some_and(|p| in_ports.contains(&p)) {
            continue;
        }
        if verbose {
            if let Some(u) = f.ufid {
                s.push_str(&odp::format_ufid(u));
                s.push(' ');
            }
        }
        let (key, mask) = if userspace {
            userspace_view(&f, verbose).unwrap_or_else(|| (f.key.clone(), f.mask.clone()))
        } else {
            (f.key.clone(), f.mask.clone())
        };
        if odp::format_flow(&key, &mask, &opts, &mut s).is_err() {
            s.push_str("<error decoding key>");
        }
        s.push_str(", ");
        s.push_str(&format_stats(&f.stats));
        s.push_str(", actions:");
        let aopts = FormatOptions {
            verbose: false,
            port_names: names.as_ref(),
        };
        if odp::format_actions(&f.actions, &aopts, &mut s).is_err() {
            s.push_str("<error decoding actions>");
        }
        s.push('\n');
    }
    Ok(s)
}
