//! The command line and environment of ovs-vswitchd (see ovs-vswitchd(8)).

use std::path::PathBuf;

/// The version of Open vSwitch whose behaviour ferrovs reproduces.
pub const OVS_VERSION: &str = "3.1.0";
/// What `-V` and `version` print: stock's line (tools parse it), then ours.
pub fn version_text() -> String {
    format!(
        "ovs-vswitchd (Open vSwitch) {OVS_VERSION}\nferrovs-vswitchd {}",
        env!("CARGO_PKG_VERSION")
    )
}

/// How `--enable-dummy` was given (netdev-dummy's override levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DummyMode {
    /// `--enable-dummy`: the `dummy` datapath type exists beside the others.
    Add,
    /// `--enable-dummy=system`: `system` bridges use the dummy datapath too.
    System,
    /// `--enable-dummy=override`: every datapath type is the dummy one.
    Override,
}

/// The directories of the OVS_*DIR environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub rundir: PathBuf,
    pub logdir: PathBuf,
    pub dbdir: PathBuf,
    pub sysconfdir: PathBuf,
}

impl Dirs {
    /// Reads OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR, OVS_SYSCONFDIR with stock's
    /// defaults (Debian's build: /var/run/openvswitch, /var/log/openvswitch,
    /// /etc/openvswitch, /etc).
    pub fn from_env() -> Dirs {
        let get = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        let sysconfdir = get("OVS_SYSCONFDIR", "/etc");
        let dbdir = std::env::var_os("OVS_DBDIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| sysconfdir.join("openvswitch"));
        Dirs {
            rundir: get("OVS_RUNDIR", "/var/run/openvswitch"),
            logdir: get("OVS_LOGDIR", "/var/log/openvswitch"),
            dbdir,
            sysconfdir,
        }
    }
}

/// Everything the command line says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    pub database: Option<String>,
    pub pidfile: Option<PathBuf>,
    pub overwrite_pidfile: bool,
    pub detach: bool,
    pub no_chdir: bool,
    pub monitor: bool,
    pub log_file: Option<PathBuf>,
    /// `-v` specifications in order; `None` is a bare `-v`.
    pub verbose: Vec<Option<String>>,
    pub unixctl: Option<PathBuf>,
    pub dummy: Option<DummyMode>,
    pub disable_system: bool,
    pub disable_system_route: bool,
    pub mlockall: bool,
    pub help: bool,
    pub version: bool,
}

/// Whether an option takes no argument, an optional one (`--opt=ARG` only)
/// or a required one (`--opt=ARG` or `--opt ARG`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    No,
    Optional,
    Required,
}

const LONG: &[(&str, Arg)] = &[
    ("pidfile", Arg::Optional),
    ("overwrite-pidfile", Arg::No),
    ("detach", Arg::No),
    ("no-chdir", Arg::No),
    ("monitor", Arg::No),
    ("log-file", Arg::Optional),
    ("verbose", Arg::Optional),
    ("unixctl", Arg::Required),
    ("enable-dummy", Arg::Optional),
    ("disable-system", Arg::No),
    ("disable-system-route", Arg::No),
    ("mlockall", Arg::No),
    ("help", Arg::No),
    ("version", Arg::No),
    ("user", Arg::Required),
    ("syslog-method", Arg::Required),
    ("syslog-target", Arg::Required),
    ("private-key", Arg::Required),
    ("certificate", Arg::Required),
    ("ca-cert", Arg::Required),
    ("bootstrap-ca-cert", Arg::Required),
    ("peer-ca-cert", Arg::Required),
    ("ssl-protocols", Arg::Required),
    ("ssl-ciphers", Arg::Required),
    ("dpdk", Arg::No),
    ("dummy-numa", Arg::Required),
];

fn resolve(path: &str, dir: &std::path::Path) -> PathBuf {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        p
    } else {
        dir.join(p)
    }
}

impl Options {
    /// Parses the arguments after the program name. `Err` carries the
    /// message to print before exiting with status 1.
    pub fn parse<I: IntoIterator<Item = String>>(args: I, dirs: &Dirs) -> Result<Options, String> {
        let mut o = Options::default();
        let mut positional = Vec::new();
        let mut args = args.into_iter();
        let mut only_positional = false;
        while let Some(arg) = args.next() {
            if only_positional || arg == "-" || !arg.starts_with('-') {
                positional.push(arg);
                continue;
            }
            if arg == "--" {
                only_positional = true;
                continue;
            }
            let (name, value) = if let Some(long) = arg.strip_prefix("--") {
                let (n, v) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                // getopt accepts any unambiguous prefix of a long option.
                let exact = LONG.iter().find(|(l, _)| *l == n);
                let matches: Vec<_> = LONG.iter().filter(|(l, _)| l.starts_with(n)).collect();
                let (lname, kind) = match (exact, matches.as_slice()) {
                    (Some(e), _) => *e,
                    (None, [one]) => **one,
                    (None, []) => return Err(format!("unrecognized option '--{n}'")),
                    (None, _) => return Err(format!("option '--{n}' is ambiguous")),
                };
                let value = match (kind, v) {
                    (Arg::No, Some(_)) => {
                        return Err(format!("option '--{lname}' doesn't allow an argument"))
                    }
                    (Arg::Required, None) => match args.next() {
                        Some(v) => Some(v),
                        None => return Err(format!("option '--{lname}' requires an argument")),
                    },
                    (_, v) => v,
                };
                (lname.to_string(), value)
            } else {
                let mut chars = arg.chars().skip(1);
                let c = chars.next().unwrap_or('-');
                let rest: String = chars.collect();
                match c {
                    'v' => ("verbose".into(), (!rest.is_empty()).then_some(rest)),
                    'h' | 'V' if rest.is_empty() => {
                        ((if c == 'h' { "help" } else { "version" }).into(), None)
                    }
                    'p' | 'c' | 'C' => {
                        let v = if rest.is_empty() {
                            args.next()
                        } else {
                            Some(rest)
                        };
                        if v.is_none() {
                            return Err(format!("option requires an argument -- '{c}'"));
                        }
                        ("private-key".into(), v)
                    }
                    _ => return Err(format!("invalid option -- '{c}'")),
                }
            };
            match name.as_str() {
                "pidfile" => {
                    o.pidfile = Some(match value {
                        Some(v) => resolve(&v, &dirs.rundir),
                        None => dirs.rundir.join("ovs-vswitchd.pid"),
                    })
                }
                "overwrite-pidfile" => o.overwrite_pidfile = true,
                "detach" => o.detach = true,
                "no-chdir" => o.no_chdir = true,
                "monitor" => o.monitor = true,
                "log-file" => {
                    o.log_file = Some(match value {
                        Some(v) => resolve(&v, &dirs.logdir),
                        None => dirs.logdir.join("ovs-vswitchd.log"),
                    })
                }
                "verbose" => o.verbose.push(value),
                "unixctl" => o.unixctl = value.map(|v| resolve(&v, &dirs.rundir)),
                "enable-dummy" => {
                    o.dummy = Some(match value.as_deref() {
                        None | Some("") => DummyMode::Add,
                        Some("override") => DummyMode::Override,
                        Some("system") => DummyMode::System,
                        // Stock treats any other word as the plain form.
                        Some(_) => DummyMode::Add,
                    })
                }
                "disable-system" => o.disable_system = true,
                "disable-system-route" => o.disable_system_route = true,
                "mlockall" => o.mlockall = true,
                "help" => o.help = true,
                "version" => o.version = true,
                "syslog-method" | "syslog-target" | "dpdk" | "dummy-numa" => {}
                "user" => return Err("--user is not supported by ferrovs-vswitchd yet".into()),
                _ => {
                    return Err(format!(
                        "--{name}: SSL is not supported by ferrovs-vswitchd yet"
                    ))
                }
            }
        }
        match positional.len() {
            0 => {}
            1 => o.database = positional.pop(),
            _ => {
                return Err("at most one non-option argument accepted; use --help for usage".into())
            }
        }
        Ok(o)
    }

    /// The database target, `unix:$OVS_RUNDIR/db.sock` by default.
    pub fn database(&self, dirs: &Dirs) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("unix:{}/db.sock", dirs.rundir.display()))
    }
}

/// The `--help` text, laid out like stock's.
pub fn usage(dirs: &Dirs) -> String {
    format!(
        "ferrovs-vswitchd: Open vSwitch daemon (ferrovs)
usage: ferrovs-vswitchd [OPTIONS] [DATABASE]
where DATABASE is a socket on which ovsdb-server is listening
      (default: \"unix:{run}/db.sock\").

Active DATABASE connection methods:
  tcp:HOST:PORT           PORT at remote HOST
  unix:FILE               Unix domain socket named FILE

Daemon options:
  --detach                run in background as daemon
  --monitor               creates a process to monitor this daemon
  --no-chdir              do not chdir to '/'
  --pidfile[=FILE]        create pidfile (default: {run}/ovs-vswitchd.pid)
  --overwrite-pidfile     with --pidfile, start even if already running

Logging options:
  -vSPEC, --verbose=SPEC   set logging levels
  -v, --verbose            set maximum verbosity level
  --log-file[=FILE]        enable logging to specified FILE
                           (default: {log}/ovs-vswitchd.log)

Datapath options:
  --enable-dummy[=override|system]
                          add the dummy datapath (override: use it for
                          every datapath type; system: for type system)
  --disable-system        do not use the kernel datapath
  --disable-system-route  do not read the system routing table
  --mlockall              lock all memory into RAM

Other options:
  --unixctl=SOCKET          override default control socket name
  -h, --help                display this help message
  -V, --version             display version information
",
        run = dirs.rundir.display(),
        log = dirs.logdir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> Dirs {
        Dirs {
            rundir: "/run/x".into(),
            logdir: "/log/x".into(),
            dbdir: "/etc/x".into(),
            sysconfdir: "/etc".into(),
        }
    }

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()), &dirs())
    }

    #[test]
    fn parses_stock_command_lines() {
        let o = parse(&[
            "unix:/tmp/db.sock",
            "--pidfile",
            "--detach",
            "--no-chdir",
            "--log-file",
            "-vconsole:off",
            "--verbose=vconn",
            "--enable-dummy=override",
            "--disable-system",
            "--unixctl",
            "ctl",
        ])
        .unwrap();
        assert_eq!(o.database.as_deref(), Some("unix:/tmp/db.sock"));
        assert_eq!(o.pidfile, Some("/run/x/ovs-vswitchd.pid".into()));
        assert_eq!(o.log_file, Some("/log/x/ovs-vswitchd.log".into()));
        assert_eq!(o.unixctl, Some("/run/x/ctl".into()));
        assert_eq!(o.dummy, Some(DummyMode::Override));
        assert_eq!(
            o.verbose,
            vec![Some("console:off".into()), Some("vconn".into())]
        );
        assert!(o.detach && o.no_chdir && o.disable_system);
        let o = parse(&["--pidfile=/a/p", "-v", "--enable-dummy"]).unwrap();
        assert_eq!(o.pidfile, Some("/a/p".into()));
        assert_eq!(o.verbose, vec![None]);
        assert_eq!(o.dummy, Some(DummyMode::Add));
        assert_eq!(o.database(&dirs()), "unix:/run/x/db.sock");
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert_eq!(
            parse(&["--nosuch"]).unwrap_err(),
            "unrecognized option '--nosuch'"
        );
        assert_eq!(parse(&["-x"]).unwrap_err(), "invalid option -- 'x'");
        assert!(parse(&["--detach=1"]).is_err());
        assert!(parse(&["--unixctl"]).is_err());
        assert!(parse(&["a", "b"]).is_err());
    }
}
