//! Logging in Open vSwitch's vlog format, behind the `log` facade.
//!
//! Code logs with `log::info!(target: "bridge", ...)`; the target is the
//! vlog module name. Each module has a level per destination (console,
//! syslog, file), set with `-v`/`--verbose` and `ovs-appctl vlog/set`, listed
//! by `vlog/list` exactly as stock lays it out, so that scripts and tests that
//! read `ovs-vswitchd.log` keep working:
//! `2026-11-20T22:06:51.123Z|00001|bridge|INFO|text`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// The modules stock ovs-vswitchd knows, so that any `-vMODULE` that works
/// with stock also works here (ferrovs logs under a subset of them).
pub const MODULES: &[&str] = &[
    "backtrace",
    "bfd",
    "bond",
    "bridge",
    "bundle",
    "bundles",
    "cfm",
    "collectors",
    "command_line",
    "connmgr",
    "conntrack",
    "conntrack_tp",
    "coverage",
    "ct_dpif",
    "daemon",
    "daemon_unix",
    "dns_resolve",
    "dpdk",
    "dpif",
    "dpif_lookup_autovalidator",
    "dpif_lookup_generic",
    "dpif_mfex_extract_study",
    "dpif_netdev",
    "dpif_netdev_extract",
    "dpif_netdev_impl",
    "dpif_netdev_lookup",
    "dpif_netlink",
    "dpif_netlink_rtnl",
    "entropy",
    "fail_open",
    "fatal_signal",
    "flow",
    "hmap",
    "in_band",
    "ipf",
    "ipfix",
    "jsonrpc",
    "lacp",
    "lldp",
    "lldpd",
    "lldpd_structs",
    "lockfile",
    "memory",
    "meta_flow",
    "native_tnl",
    "netdev",
    "netdev_afxdp",
    "netdev_dummy",
    "netdev_linux",
    "netdev_offload",
    "netdev_offload_tc",
    "netdev_vport",
    "netflow",
    "netlink",
    "netlink_conntrack",
    "netlink_notifier",
    "netlink_socket",
    "nx_match",
    "odp_execute",
    "odp_execute_impl",
    "odp_util",
    "ofp_actions",
    "ofp_bundle",
    "ofp_connection",
    "ofp_errors",
    "ofp_flow",
    "ofp_group",
    "ofp_match",
    "ofp_meter",
    "ofp_monitor",
    "ofp_msgs",
    "ofp_packet",
    "ofp_port",
    "ofp_protocol",
    "ofp_queue",
    "ofp_table",
    "ofp_util",
    "ofproto",
    "ofproto_dpif",
    "ofproto_dpif_mirror",
    "ofproto_dpif_monitor",
    "ofproto_dpif_rid",
    "ofproto_dpif_upcall",
    "ofproto_dpif_xlate",
    "ofproto_xlate_cache",
    "ovs_lldp",
    "ovs_numa",
    "ovs_rcu",
    "ovs_replay",
    "ovs_router",
    "ovs_thread",
    "ovsdb_cs",
    "ovsdb_error",
    "ovsdb_idl",
    "ox_stat",
    "pcap",
    "pmd_perf",
    "poll_loop",
    "process",
    "rconn",
    "reconnect",
    "route_table",
    "rstp",
    "rstp_sm",
    "sflow",
    "sha1",
    "signals",
    "socket_util",
    "socket_util_unix",
    "stp",
    "stream",
    "stream_fd",
    "stream_replay",
    "stream_ssl",
    "stream_tcp",
    "stream_unix",
    "svec",
    "system_stats",
    "tc",
    "timeval",
    "tunnel",
    "unixctl",
    "userspace_tso",
    "util",
    "uuid",
    "vconn",
    "vconn_stream",
    "vlog",
    "vswitchd",
];

/// A vlog level, from least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off,
    Emer,
    Err,
    Warn,
    Info,
    Dbg,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Off => "OFF",
            Level::Emer => "EMER",
            Level::Err => "ERR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Dbg => "DBG",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        [
            Level::Off,
            Level::Emer,
            Level::Err,
            Level::Warn,
            Level::Info,
            Level::Dbg,
        ]
        .into_iter()
        .find(|l| l.name().eq_ignore_ascii_case(s))
    }

    /// The syslog severity of a message at this level.
    fn syslog_severity(self) -> u8 {
        match self {
            Level::Off | Level::Emer => 0,
            Level::Err => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Dbg => 7,
        }
    }

    fn from_log(l: log::Level) -> Level {
        match l {
            log::Level::Error => Level::Err,
            log::Level::Warn => Level::Warn,
            log::Level::Info => Level::Info,
            log::Level::Debug | log::Level::Trace => Level::Dbg,
        }
    }
}

/// Where messages go; the order is the column order of `vlog/list`.
const DESTINATIONS: [&str; 3] = ["console", "syslog", "file"];
const CONSOLE: usize = 0;
const SYSLOG: usize = 1;
const FILE: usize = 2;

struct State {
    levels: Vec<[Level; 3]>,
    file_path: Option<PathBuf>,
    file: Option<File>,
    syslog: Option<UnixDatagram>,
    syslog_tried: bool,
    seq: u32,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<State>> {
    // A panic while logging must not silence the log for good.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The logger installed into the `log` facade.
struct Vlog;

static LOGGER: Vlog = Vlog;

/// Installs the logger with every module at INFO everywhere (stock's default).
pub fn init() {
    let mut st = lock();
    if st.is_none() {
        *st = Some(State {
            levels: vec![[Level::Info; 3]; MODULES.len()],
            file_path: None,
            file: None,
            syslog: None,
            syslog_tried: false,
            seq: 0,
        });
    }
    drop(st);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

fn module_index(name: &str) -> Option<usize> {
    MODULES.iter().position(|m| m.eq_ignore_ascii_case(name))
}

fn destination_index(name: &str) -> Option<usize> {
    DESTINATIONS
        .iter()
        .position(|d| d.eq_ignore_ascii_case(name))
}

/// Applies a `-v`/`vlog/set` specification such as `bridge:file:dbg`,
/// `console:off` or `vconn`; `None` means "everything at DBG" (plain `-v`).
pub fn set_levels_from_string(spec: Option<&str>) -> Result<(), String> {
    let Some(spec) = spec else {
        set_levels(None, None, Level::Dbg);
        return Ok(());
    };
    let mut words = spec
        .split([' ', ',', ':', '\t'])
        .filter(|w| !w.is_empty())
        .peekable();
    match words.peek() {
        Some(w) if w.eq_ignore_ascii_case("PATTERN") => {
            words.next();
            let Some(dest) = words.next() else {
                return Err("missing destination".into());
            };
            if !dest.eq_ignore_ascii_case("ANY") && destination_index(dest).is_none() {
                return Err(format!("unknown destination \"{dest}\""));
            }
            // Only the default patterns are produced; accepting the
            // request keeps command lines that set one working.
            log::warn!(target: "vlog", "custom log patterns are not supported; keeping the default");
            return Ok(());
        }
        Some(w) if w.eq_ignore_ascii_case("FACILITY") => return Ok(()),
        _ => {}
    }
    let mut module = None;
    let mut level = None;
    let mut dest = None;
    for word in words {
        if word.eq_ignore_ascii_case("ANY") {
            continue;
        } else if let Some(d) = destination_index(word) {
            if dest.replace(d).is_some() {
                return Err("cannot specify multiple destinations".into());
            }
        } else if let Some(l) = Level::parse(word) {
            if level.replace(l).is_some() {
                return Err("cannot specify multiple levels".into());
            }
        } else if let Some(m) = module_index(word) {
            if module.replace(m).is_some() {
                return Err("cannot specify multiple modules".into());
            }
        } else {
            return Err(format!("no destination, level, or module \"{word}\""));
        }
    }
    set_levels(module, dest, level.unwrap_or(Level::Dbg));
    Ok(())
}

fn set_levels(module: Option<usize>, dest: Option<usize>, level: Level) {
    let mut st = lock();
    let Some(st) = st.as_mut() else { return };
    for (i, levels) in st.levels.iter_mut().enumerate() {
        if module.is_some_and(|m| m != i) {
            continue;
        }
        for (d, l) in levels.iter_mut().enumerate() {
            if dest.is_none_or(|x| x == d) {
                *l = level;
            }
        }
    }
}

/// Turns console logging off (what `--detach` does).
pub fn console_off() {
    set_levels(None, Some(CONSOLE), Level::Off);
}

/// The `vlog/list` table.
pub fn list() -> String {
    let st = lock();
    let mut s = String::from(
        "                 console    syslog    file\n                 -------    ------    ------\n",
    );
    if let Some(st) = st.as_ref() {
        for (i, m) in MODULES.iter().enumerate() {
            let l = st.levels.get(i).copied().unwrap_or([Level::Info; 3]);
            s.push_str(&format!(
                "{:<16}  {:>4}       {:>4}       {:>4}\n",
                m,
                l[CONSOLE].name(),
                l[SYSLOG].name(),
                l[FILE].name()
            ));
        }
    }
    s
}

fn open_log_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Starts logging to `path`.
pub fn set_log_file(path: &Path) -> std::io::Result<()> {
    let f = open_log_file(path)?;
    {
        let mut st = lock();
        if let Some(st) = st.as_mut() {
            st.file = Some(f);
            st.file_path = Some(path.to_path_buf());
        }
    }
    log::info!(target: "vlog", "opened log file {}", path.display());
    Ok(())
}

/// Reopens the log file (after rotation): SIGHUP and `vlog/reopen`.
pub fn reopen() -> Result<(), String> {
    let path = lock().as_ref().and_then(|s| s.file_path.clone());
    let Some(path) = path else {
        return Err("Logging to file not configured".into());
    };
    log::info!(target: "vlog", "closing log file");
    let f =
        open_log_file(&path).map_err(|e| format!("could not reopen {}: {e}", path.display()))?;
    if let Some(st) = lock().as_mut() {
        st.file = Some(f);
    }
    log::info!(target: "vlog", "opened log file {}", path.display());
    Ok(())
}

/// Stops logging to the file (`vlog/close`).
pub fn close() {
    if let Some(st) = lock().as_mut() {
        st.file = None;
    }
}

/// Formats a UTC time as `YYYY-MM-DDTHH:MM:SS` plus, if `millis`, `.mmm`.
pub fn format_time(t: SystemTime, millis: bool) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for the epoch on.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let base = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if millis {
        format!("{base}.{:03}", d.subsec_millis())
    } else {
        base
    }
}

impl log::Log for Vlog {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        let level = Level::from_log(meta.level());
        let st = lock();
        let Some(st) = st.as_ref() else { return false };
        let m = module_index(meta.target()).unwrap_or(MODULES.len() - 1);
        st.levels
            .get(m)
            .is_some_and(|l| l.iter().any(|x| *x >= level))
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = Level::from_log(record.level());
        let mut guard = lock();
        let Some(st) = guard.as_mut() else { return };
        let m = module_index(record.target()).unwrap_or(MODULES.len() - 1);
        let Some(levels) = st.levels.get(m).copied() else {
            return;
        };
        let module = MODULES.get(m).copied().unwrap_or("vswitchd");
        if !levels.iter().any(|l| *l >= level) {
            return;
        }
        st.seq = st.seq.wrapping_add(1);
        let now = SystemTime::now();
        let body = format!(
            "{:05}|{}|{}|{}",
            st.seq,
            module,
            level.name(),
            record.args()
        );
        if levels[CONSOLE] >= level {
            eprintln!("{}Z|{body}", format_time(now, false));
        }
        if levels[FILE] >= level {
            if let Some(f) = st.file.as_mut() {
                // A full disk must not stop the daemon; the line is lost.
                let _ = writeln!(f, "{}Z|{body}", format_time(now, true));
            }
        }
        if levels[SYSLOG] >= level {
            if !st.syslog_tried {
                // Once: where there is no syslog daemon, do not retry for
                // every message. Non-blocking: a stuck syslog daemon must
                // not stall the switch; its lines are lost instead.
                st.syslog_tried = true;
                st.syslog = UnixDatagram::unbound()
                    .ok()
                    .filter(|s| s.connect("/dev/log").is_ok() && s.set_nonblocking(true).is_ok());
            }
            if let Some(s) = st.syslog.as_ref() {
                // Facility "daemon" (3).
                let pri = 3 * 8 + level.syslog_severity();
                let _ = s.send(format!("<{pri}>ovs-vswitchd: ovs|{body}").as_bytes());
            }
        }
    }

    fn flush(&self) {
        if let Some(f) = lock().as_mut().and_then(|s| s.file.as_mut()) {
            let _ = f.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_795_212_411_123);
        assert_eq!(format_time(t, true), "2026-11-20T22:06:51.123");
        assert_eq!(format_time(UNIX_EPOCH, false), "1970-01-01T00:00:00");
    }

    #[test]
    fn parses_specs_like_stock() {
        init();
        assert!(set_levels_from_string(Some("bridge:file:warn")).is_ok());
        assert!(list().contains("bridge            INFO       INFO       WARN"));
        assert_eq!(
            set_levels_from_string(Some("nosuch:dbg")).unwrap_err(),
            "no destination, level, or module \"nosuch\""
        );
        assert_eq!(
            set_levels_from_string(Some("info:dbg")).unwrap_err(),
            "cannot specify multiple levels"
        );
        assert!(set_levels_from_string(Some("ANY:ANY:info")).is_ok());
    }
}
