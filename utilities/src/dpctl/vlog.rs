//! Console log lines in Open vSwitch's format, for what the libraries log
//! through the `log` crate: `2026-01-02T03:04:05Z|00001|dpif|WARN|text`.
//! The log target is the OVS module name (`dpif`, `dpif_netlink`, `netdev`).

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

struct ConsoleLog {
    seq: AtomicU32,
}

static LOGGER: ConsoleLog = ConsoleLog {
    seq: AtomicU32::new(1),
};

/// Console levels set with `-v`/`--verbose`, in order: (module or None
/// for every module, most verbose level shown or None for off).
static CONSOLE_LEVELS: Mutex<Vec<(Option<String>, Option<Level>)>> = Mutex::new(Vec::new());

/// Logs INFO and above to stderr, as ovs-dpctl does by default.
pub fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}

/// Applies one `-v[SPEC]` / `--verbose[=SPEC]` the way vlog reads it:
/// words separated by `:`, `,` or blanks, each a destination (`console`,
/// `syslog`, `file`, `any`), a level (`off`, `emer`, `err`, `warn`,
/// `info`, `dbg`) or a module; no spec means every module at `dbg`. Only
/// what reaches the console matters here.
pub fn apply_spec(spec: Option<&str>) {
    let mut module = None;
    let mut level = Some(Level::Debug);
    let mut console = true;
    for word in spec
        .unwrap_or("")
        .split([':', ',', ' ', '\t'])
        .filter(|w| !w.is_empty())
    {
        match word {
            "console" | "any" => console = true,
            "syslog" | "file" => console = false,
            "off" => level = None,
            "emer" | "err" => level = Some(Level::Error),
            "warn" => level = Some(Level::Warn),
            "info" => level = Some(Level::Info),
            "dbg" => level = Some(Level::Debug),
            "ANY" => module = None,
            m => module = Some(m.to_string()),
        }
    }
    if !console {
        return;
    }
    if level == Some(Level::Debug) {
        log::set_max_level(LevelFilter::Debug);
    }
    if let Ok(mut levels) = CONSOLE_LEVELS.lock() {
        levels.push((module, level));
    }
}

/// The most verbose level shown on the console for `module`.
fn console_level(module: &str) -> Option<Level> {
    let mut level = Some(Level::Info);
    if let Ok(levels) = CONSOLE_LEVELS.lock() {
        for (m, l) in levels.iter() {
            if m.as_deref().is_none_or(|m| m == module) {
                level = *l;
            }
        }
    }
    level
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (UTC, proleptic Gregorian).
pub fn utc_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl Log for ConsoleLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let module = metadata.target().rsplit("::").next().unwrap_or("ferrovs");
        console_level(module).is_some_and(|l| metadata.level() <= l)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "ERR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DBG",
            Level::Trace => "DBG",
        };
        // Library modules log under their Rust path unless they name an OVS
        // module as target; keep only the last path component then.
        let module = record.target().rsplit("::").next().unwrap_or("ferrovs");
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let line = format!(
            "{}|{seq:05}|{module}|{level}|{}\n",
            utc_timestamp(secs),
            record.args()
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_790_000_000), "2026-09-21T14:13:20Z");
    }
}
