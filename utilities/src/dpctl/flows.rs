//! The flow commands of ovs-dpctl: dump-flows, add-flow, mod-flow,
//! get-flow, del-flow, del-flows, and add-flows/mod-flows/del-flows from a
//! file. Flow text is read and written by `dpif::odp`.

use std::collections::HashMap;
use std::io::BufRead;

use ferrovs_dpif::flow_filter::FlowFilter;
use ferrovs_dpif::netlink::NetlinkDpif;
use ferrovs_dpif::odp::{self, FormatOptions};
use ferrovs_dpif::{DpFlow, Dpif, DpifError, FlowId, FlowPut, FlowStats, PutFlags, Ufid};

use super::clock::monotonic_ms;
use super::commands::{dp_exists, opt_dp_open};
use super::Ctx;

/// Port name -> number, for `in_port(NAME)` in flows given by the user.
fn port_numbers(dp: &mut NetlinkDpif) -> HashMap<String, u32> {
    dp.port_dump()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.port_no))
        .collect()
}

/// Port number -> name, for printing when names are asked for.
fn port_names(ctx: &Ctx, dp: &mut NetlinkDpif) -> Option<HashMap<u32, String>> {
    ctx.opts.names.then(|| {
        dp.port_dump()
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.port_no, p.name))
            .collect()
    })
}

fn tcp_flags_text(flags: u16) -> String {
    if flags == 0 {
        return "none".to_string();
    }
    let mut s = String::new();
    for (bit, name) in [
        (0x002, "S"),
        (0x001, "F"),
        (0x008, "P"),
        (0x004, "R"),
        (0x020, "U"),
        (0x010, "."),
        (0x040, "E"),
        (0x080, "C"),
        (0x100, "N"),
        (0x200, "[200]"),
        (0x400, "[400]"),
        (0x800, "[800]"),
    ] {
        if flags & bit != 0 {
            s.push_str(name);
        }
    }
    s
}

/// `packets:N, bytes:N, used:Xs` (and `flags:` when TCP flags were seen).
fn stats_text(stats: &FlowStats) -> String {
    let mut s = format!(
        "packets:{}, bytes:{}, used:",
        stats.n_packets, stats.n_bytes
    );
    if stats.used_ms != 0 {
        let idle = monotonic_ms() as i64 - stats.used_ms as i64;
        s.push_str(&format!("{:.3}s", idle as f64 / 1000.0));
    } else {
        s.push_str("never");
    }
    if stats.tcp_flags != 0 {
        s.push_str(", flags:");
        s.push_str(&tcp_flags_text(stats.tcp_flags));
    }
    s
}

fn key_text(key: &[u8], mask: &[u8], opts: &FormatOptions<'_>) -> String {
    let mut out = String::new();
    if key.is_empty() {
        out.push_str("<empty>");
    } else if let Err(e) = odp::format_flow(key, mask, opts, &mut out) {
        out.push_str(&format!("<error: {}>", e.message));
    }
    out
}

fn actions_text(actions: &[u8], opts: &FormatOptions<'_>) -> String {
    let mut out = String::new();
    if let Err(e) = odp::format_actions(actions, opts, &mut out) {
        out.push_str(&format!("<error: {}>", e.message));
    }
    out
}

/// One flow as dump-flows and get-flow print it.
fn flow_line(ctx: &Ctx, f: &DpFlow, names: Option<&HashMap<u32, String>>) -> String {
    let verbose = ctx.opts.verbosity > 0;
    let opts = FormatOptions {
        verbose,
        port_names: names,
    };
    let mut s = String::new();
    if let (true, Some(ufid)) = (verbose, f.ufid) {
        s.push_str(&odp::format_ufid(ufid));
        s.push_str(", ");
    }
    s.push_str(&key_text(&f.key, &f.mask, &opts));
    s.push_str(", ");
    s.push_str(&stats_text(&f.stats));
    if verbose {
        // Flows of the kernel datapath, never offloaded by this tool.
        s.push_str(", dp:ovs");
    }
    s.push_str(", actions:");
    s.push_str(&actions_text(&f.actions, &opts));
    s
}

/// The message the dpif layer of Open vSwitch logs for a failed flow
/// operation (not for EEXIST, which batches of overlapping flows hit).
#[allow(clippy::too_many_arguments)]
fn log_flow_failure(
    dp: &NetlinkDpif,
    op: &str,
    e: &DpifError,
    ufid: Option<Ufid>,
    key: &[u8],
    mask: &[u8],
    stats: Option<&FlowStats>,
    actions: Option<&[u8]>,
) {
    if e.errno == libc::EEXIST {
        return;
    }
    let opts = FormatOptions {
        verbose: true,
        port_names: None,
    };
    let mut s = format!(
        "system@{}: failed to {op} ({}) ",
        dp.name(),
        ferrovs_dpif::netlink::strerror(e.errno)
    );
    if let Some(u) = ufid {
        s.push_str(&odp::format_ufid(u));
        s.push(' ');
    }
    s.push_str(&key_text(key, mask, &opts));
    if let Some(st) = stats {
        s.push_str(", ");
        s.push_str(&stats_text(st));
    }
    if let Some(a) = actions {
        s.push_str(", actions:");
        s.push_str(&actions_text(a, &opts));
    }
    log::warn!(target: "dpif", "{s}");
}

/// Splits a leading `ufid:UUID` off flow text: Ok(None) when there is none.
fn split_ufid(s: &str) -> Result<(Option<Ufid>, &str), ()> {
    match s.strip_prefix("ufid:") {
        None => Ok((None, s)),
        Some(rest) => match odp::parse_ufid(rest) {
            Some(u) => Ok((Some(u), rest.get(36..).unwrap_or(""))),
            None => Err(()),
        },
    }
}

fn put_flow(
    ctx: &Ctx,
    dp: &mut NetlinkDpif,
    flow_s: &str,
    actions_s: &str,
    flags: PutFlags,
) -> i32 {
    let Ok((ufid, key_s)) = split_ufid(flow_s) else {
        ctx.error(libc::EINVAL, "parsing flow ufid");
        return libc::EINVAL;
    };
    let numbers = port_numbers(dp);
    let parsed = match odp::parse_flow(key_s, Some(&numbers)) {
        Ok(p) => p,
        Err(e) => {
            ctx.error(libc::EINVAL, &format!("parsing flow key ({})", e.message));
            return libc::EINVAL;
        }
    };
    let actions = match odp::parse_actions_as_stock(actions_s, None) {
        Ok(a) => a,
        Err(_) => {
            ctx.error(libc::EINVAL, "parsing actions");
            return libc::EINVAL;
        }
    };
    let put = FlowPut {
        flags,
        key: &parsed.key,
        mask: &parsed.mask,
        actions: &actions,
        ufid,
    };
    match dp.flow_put(&put) {
        Ok(old) => {
            if ctx.opts.statistics {
                ctx.print(&format!("{}\n", stats_text(&old.unwrap_or_default())));
            }
            0
        }
        Err(e) => {
            let mut op = String::from("put");
            if flags.create {
                op.push_str("[create]");
            }
            if flags.modify {
                op.push_str("[modify]");
            }
            if flags.zero_stats {
                op.push_str("[zero]");
            }
            let zero = FlowStats::default();
            let stats = ctx.opts.statistics.then_some(&zero);
            log_flow_failure(
                dp,
                &op,
                &e,
                ufid,
                &parsed.key,
                &parsed.mask,
                stats,
                Some(&actions),
            );
            ctx.error(e.errno, "updating flow table");
            e.errno
        }
    }
}

fn del_flow(ctx: &Ctx, dp: &mut NetlinkDpif, flow_s: &str) -> i32 {
    let Ok((ufid, key_s)) = split_ufid(flow_s) else {
        ctx.error(libc::EINVAL, "parsing flow ufid");
        return libc::EINVAL;
    };
    let numbers = port_numbers(dp);
    let parsed = match odp::parse_flow(key_s, Some(&numbers)) {
        Ok(p) => p,
        Err(e) => {
            ctx.error(libc::EINVAL, &e.message);
            return libc::EINVAL;
        }
    };
    let id = match ufid {
        Some(u) => FlowId::Ufid(u),
        None => FlowId::Key(&parsed.key),
    };
    match dp.flow_del(id) {
        Ok(stats) => {
            if ctx.opts.statistics {
                ctx.print(&format!("{}\n", stats_text(&stats)));
            }
            0
        }
        Err(e) => {
            log_flow_failure(dp, "flow_del", &e, ufid, &parsed.key, &[], None, None);
            ctx.error(e.errno, "deleting flow");
            // ovs-dpctl gives this hint on every ENOENT, UFID or not.
            if e.errno == libc::ENOENT {
                ctx.print("Perhaps you need to specify a UFID?\n");
            }
            e.errno
        }
    }
}

pub fn add_flow(ctx: &Ctx, argv: &[String]) -> i32 {
    let flags = PutFlags {
        create: true,
        ..PutFlags::default()
    };
    put_flow_cmd(ctx, argv, flags)
}

pub fn mod_flow(ctx: &Ctx, argv: &[String]) -> i32 {
    let flags = PutFlags {
        create: ctx.opts.may_create,
        modify: true,
        zero_stats: ctx.opts.clear,
    };
    put_flow_cmd(ctx, argv, flags)
}

fn put_flow_cmd(ctx: &Ctx, argv: &[String], flags: PutFlags) -> i32 {
    let mut dp = match opt_dp_open(ctx, argv, 4) {
        Ok(dp) => dp,
        Err(errno) => return errno,
    };
    let n = argv.len();
    put_flow(ctx, &mut dp, &argv[n - 2], &argv[n - 1], flags)
}

pub fn get_flow(ctx: &Ctx, argv: &[String]) -> i32 {
    let mut dp = match opt_dp_open(ctx, argv, 3) {
        Ok(dp) => dp,
        Err(errno) => return errno,
    };
    let names = port_names(ctx, &mut dp);
    let key_s = &argv[argv.len() - 1];
    let ufid = match split_ufid(key_s) {
        Ok((Some(u), _)) => u,
        // No "ufid:" at all: ovs-dpctl complains but exits successfully.
        Ok((None, _)) => {
            ctx.error(0, "parsing flow ufid");
            return 0;
        }
        Err(()) => {
            ctx.error(libc::EINVAL, "parsing flow ufid");
            return 0;
        }
    };
    match dp.flow_get(FlowId::Ufid(ufid)) {
        Ok(f) => {
            ctx.print(&format!("{}\n", flow_line(ctx, &f, names.as_ref())));
            0
        }
        Err(e) => {
            let zero = FlowStats::default();
            log_flow_failure(&dp, "flow_get", &e, Some(ufid), &[], &[], Some(&zero), None);
            ctx.error(e.errno, "getting flow");
            e.errno
        }
    }
}

pub fn del_flow_cmd(ctx: &Ctx, argv: &[String]) -> i32 {
    let mut dp = match opt_dp_open(ctx, argv, 3) {
        Ok(dp) => dp,
        Err(errno) => return errno,
    };
    del_flow(ctx, &mut dp, &argv[argv.len() - 1])
}

pub fn del_flows(ctx: &Ctx, argv: &[String]) -> i32 {
    if (argv.len() == 2 && !dp_exists(&argv[1])) || argv.len() > 2 {
        return process_flows(ctx, argv);
    }
    let mut dp = match opt_dp_open(ctx, argv, 2) {
        Ok(dp) => dp,
        Err(errno) => return errno,
    };
    match dp.flow_flush() {
        Ok(()) => 0,
        Err(e) => {
            ctx.error(e.errno, "deleting all flows");
            e.errno
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileCommand {
    Add,
    Modify,
    Delete,
}

/// One line of a flows file: `[add|modify|delete] FLOW [ACTIONS]`, where a
/// prefix of the command word is enough (as ovs-dpctl takes it).
fn parse_flow_line(
    default: FileCommand,
    line: &str,
) -> (FileCommand, Option<String>, Option<String>) {
    let blank = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut rest = line.trim_start_matches(blank);
    let word_len = rest
        .find(|c: char| blank(c) || c == ',')
        .unwrap_or(rest.len());
    let word = &rest[..word_len];
    let mut command = default;
    // strncmp(line, "add", len): the word is a prefix of the command name
    // (an empty word matches every name, and then "add" wins).
    if "add".starts_with(word) {
        command = FileCommand::Add;
        rest = &rest[word_len..];
    } else if "delete".starts_with(word) {
        command = FileCommand::Delete;
        rest = &rest[word_len..];
    } else if "modify".starts_with(word) {
        command = FileCommand::Modify;
        rest = &rest[word_len..];
    }
    rest = rest.trim_start_matches(blank);
    let flow_len = rest.find(blank).unwrap_or(rest.len());
    if flow_len == 0 {
        return (command, None, None);
    }
    let flow = rest[..flow_len].to_string();
    let actions = rest[flow_len..].trim_start_matches(blank);
    (
        command,
        Some(flow),
        (!actions.is_empty()).then(|| actions.to_string()),
    )
}

/// A line with its `#` comment removed; None for lines with nothing but
/// blanks left (as ds_get_preprocessed_line skips them). Blanks before the
/// comment stay, as they do in ovs-dpctl.
fn preprocess(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or("");
    (!line.trim_start_matches([' ', '\t', '\n']).is_empty()).then(|| line.to_string())
}

/// add-flows, mod-flows (and del-flows with a file): flows from a file.
pub fn process_flows_cmd(ctx: &Ctx, argv: &[String]) -> i32 {
    process_flows(ctx, argv)
}

fn process_flows(ctx: &Ctx, argv: &[String]) -> i32 {
    let default = match argv[0].as_str() {
        "mod-flows" => FileCommand::Modify,
        "del-flows" => FileCommand::Delete,
        _ => FileCommand::Add,
    };
    let mut dp = match opt_dp_open(ctx, argv, 4) {
        Ok(dp) => dp,
        Err(errno) => return errno,
    };
    let file_name = &argv[argv.len() - 1];
    let reader: Box<dyn BufRead> = if file_name == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(file_name) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                // Reported, yet ovs-dpctl exits successfully.
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                ctx.error(errno, &format!("Opening file \"{file_name}\" failed"));
                return 0;
            }
        }
    };
    for (i, line) in reader.lines().enumerate() {
        let Ok(line) = line else { break };
        let Some(line) = preprocess(&line) else {
            continue;
        };
        let (command, flow, actions) = parse_flow_line(default, &line);
        match (command, flow, actions) {
            (FileCommand::Add, Some(f), Some(a)) => {
                put_flow(
                    ctx,
                    &mut dp,
                    &f,
                    &a,
                    PutFlags {
                        create: true,
                        ..PutFlags::default()
                    },
                );
            }
            (FileCommand::Modify, Some(f), Some(a)) => {
                put_flow(
                    ctx,
                    &mut dp,
                    &f,
                    &a,
                    PutFlags {
                        modify: true,
                        ..PutFlags::default()
                    },
                );
            }
            (FileCommand::Delete, Some(f), None) => {
                del_flow(ctx, &mut dp, &f);
            }
            _ => ctx.error(
                0,
                &format!("Failed parsing line number {}, skipped!", i + 1),
            ),
        }
    }
    0
}

pub fn dump_flows(ctx: &Ctx, argv: &[String]) -> i32 {
    let mut args: Vec<String> = argv.to_vec();
    let mut filter = None;
    let mut pmd_filter = false;
    let mut last_len = 0;
    while args.len() > 1 && last_len != args.len() {
        last_len = args.len();
        let last = args[args.len() - 1].clone();
        if let (Some(f), None) = (last.strip_prefix("filter="), &filter) {
            filter = Some(f.to_string());
            args.pop();
        } else if last.starts_with("type=") {
            ctx.error(
                0,
                "Invalid argument 'type'. Use 'ovs-appctl dpctl/dump-flows' instead.",
            );
            return libc::EINVAL;
        } else if let Some(p) = last.strip_prefix("pmd=") {
            args.pop();
            if p.trim_start()
                .trim_start_matches(['-', '+'])
                .starts_with(|c: char| c.is_ascii_digit())
            {
                // The kernel datapath has no PMD threads: nothing matches.
                pmd_filter = true;
            } else {
                return libc::EINVAL;
            }
        }
    }
    let mut dp = match opt_dp_open(ctx, &args, 2) {
        Ok(dp) => dp,
        Err(errno) => return errno,
    };
    let names = port_names(ctx, &mut dp);
    let filter = match filter.map(|f| FlowFilter::parse(&f, &port_numbers(&mut dp))) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            ctx.error(0, &format!("Failed to parse filter ({e})"));
            return libc::EINVAL;
        }
    };
    match dp.flow_dump() {
        Ok(flows) => {
            // The filter judges every flow (and logs what stock logs
            // while reading its mask) even when a pmd= filter then hides
            // them all: the kernel datapath has no PMD threads.
            let shown = flows.iter().filter(|f| {
                filter
                    .as_ref()
                    .is_none_or(|flt| flt.matches(&f.key, &f.mask))
            });
            for f in shown {
                if !pmd_filter {
                    ctx.print(&format!("{}\n", flow_line(ctx, f, names.as_ref())));
                }
            }
            0
        }
        Err(e) => {
            ctx.error(e.errno, "Failed to dump flows from datapath");
            e.errno
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_file_lines() {
        let (c, f, a) = parse_flow_line(FileCommand::Add, "  modify in_port(1),eth() 2");
        assert!(
            c == FileCommand::Modify
                && f.as_deref() == Some("in_port(1),eth()")
                && a.as_deref() == Some("2")
        );
        let (c, f, a) = parse_flow_line(FileCommand::Delete, "in_port(1)");
        assert!(c == FileCommand::Delete && f.as_deref() == Some("in_port(1)") && a.is_none());
        let (c, _, _) = parse_flow_line(FileCommand::Delete, "d in_port(1)");
        assert!(c == FileCommand::Delete);
        assert_eq!(preprocess("  # only a comment"), None);
        assert_eq!(preprocess("add x 1 # comment").as_deref(), Some("add x 1 "));
    }

    #[test]
    fn tcp_flags_like_ovs() {
        assert_eq!(tcp_flags_text(0x012), "S.");
        assert_eq!(tcp_flags_text(0x011), "F.");
        assert_eq!(tcp_flags_text(0), "none");
    }
}
