//! The command line of ovs-dpctl, parsed the way getopt_long does it:
//! options anywhere (permuted), clustered short options, unique prefixes
//! of long options, `--` to end them, and glibc's messages on errors.

/// The options ovs-dpctl knows.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// -s, --statistics
    pub statistics: bool,
    /// --clear
    pub clear: bool,
    /// --may-create
    pub may_create: bool,
    /// --read-only
    pub read_only: bool,
    /// -m, --more (repeatable)
    pub verbosity: u32,
    /// --names / --no-names (default: names when -m was given)
    pub names: bool,
    /// -t, --timeout (accepted and checked; nothing here blocks for long)
    pub timeout: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    Optional,
}

/// Long options, with the short option each stands for (if any).
const LONG: &[(&str, Arg, Option<char>)] = &[
    ("statistics", Arg::None, Some('s')),
    ("clear", Arg::None, None),
    ("may-create", Arg::None, None),
    ("read-only", Arg::None, None),
    ("more", Arg::None, Some('m')),
    ("names", Arg::None, None),
    ("no-names", Arg::None, None),
    ("timeout", Arg::Required, Some('t')),
    ("help", Arg::None, Some('h')),
    ("option", Arg::None, Some('o')),
    ("version", Arg::None, Some('V')),
    ("verbose", Arg::Optional, Some('v')),
    ("log-file", Arg::Optional, None),
    ("syslog-method", Arg::Required, None),
    ("syslog-target", Arg::Required, None),
];

const VERSION: &str = "3.1.0";

fn usage(program: &str) -> String {
    format!(
        "{program}: Open vSwitch datapath management utility
usage: {program} [OPTIONS] COMMAND [ARG...]
  add-dp DP [IFACE...]     add new datapath DP (with IFACEs)
  del-dp DP                delete local datapath DP
  add-if DP IFACE...       add each IFACE as a port on DP
  set-if DP IFACE...       reconfigure each IFACE within DP
  del-if DP IFACE...       delete each IFACE from DP
  dump-dps                 display names of all datapaths
  show                     show basic info on all datapaths
  show DP...               show basic info on each DP
  dump-flows [DP]          display flows in DP
  add-flow [DP] FLOW ACTIONS add FLOW with ACTIONS to DP
  add-flows [DP] FILE        add flows from FILE
  mod-flow [DP] FLOW ACTIONS change FLOW actions to ACTIONS in DP
  mod-flows [DP] FILE        change flows from FILE
  get-flow [DP] ufid:UFID    fetch flow corresponding to UFID
  del-flow [DP] FLOW         delete FLOW from DP
  del-flows [DP] [FILE]      delete all or specified flows from DP
  cache-get-size [DP]             Show the current size for all caches
  cache-set-size DP CACHE SIZE  Set cache size for a specific cache
  dump-conntrack [DP] [zone=ZONE]  display conntrack entries for ZONE
  flush-conntrack [DP] [zone=ZONE] [ct-tuple]delete matched conntrack entries in ZONE
  ct-stats-show [DP] [zone=ZONE] [verbose] CT connections grouped by protocol
  ct-bkts [DP] [gt=N] display connections per CT bucket
Each IFACE on add-dp, add-if, and set-if may be followed by
comma-separated options.  See ovs-dpctl(8) for syntax, or the
Interface table in ovs-vswitchd.conf.db(5) for an options list.
For COMMAND dump-flows, add-flow, add-flows, mod-flow,
mod-flows, del-flow and del-flows, DP is optional if there is
only one datapath.

Logging options:
  -vSPEC, --verbose=SPEC   set logging levels
  -v, --verbose            set maximum verbosity level
  --log-file[=FILE]        enable logging to specified FILE
                           (default: /var/log/openvswitch/{program}.log)
  --syslog-method=(libc|unix:file|udp:ip:port)
                           specify how to send messages to syslog daemon
  --syslog-target=HOST:PORT  also send syslog msgs to HOST:PORT via UDP

Options for show and mod-flow:
  -s,  --statistics           print statistics for port or flow

Options for dump-flows:
  -m, --more                  increase verbosity of output
  --names                     use port names in output

Options for mod-flow:
  --may-create                create flow if it doesn't exist
  --read-only                 do not run read/write commands
  --clear                     reset existing stats to zero

Other options:
  -t, --timeout=SECS          give up after SECS seconds
  -h, --help                  display this help message
  -V, --version               display version information
"
    )
}

/// `--option`: every long option, as ovs_cmdl_print_options lists them.
fn option_list() -> String {
    let mut out = String::new();
    for (name, arg, short) in LONG {
        let suffix = match arg {
            Arg::None => "",
            Arg::Required => "=ARG",
            Arg::Optional => "[=ARG]",
        };
        out.push_str(&format!("--{name}{suffix}\n"));
        if let Some(c) = short {
            let s = match arg {
                Arg::None => "",
                Arg::Required => " ARG",
                Arg::Optional => "[ARG]",
            };
            out.push_str(&format!("-{c}{s}\n"));
        }
    }
    out
}

struct Parser<'a> {
    argv0: &'a str,
    program: &'a str,
    names_set: bool,
    opts: Options,
}

impl Parser<'_> {
    /// Applies one option; `Err(status)` to exit now.
    fn apply(&mut self, key: char, long: Option<&str>, value: Option<&str>) -> Result<(), i32> {
        match (key, long) {
            ('s', _) => self.opts.statistics = true,
            ('m', _) => self.opts.verbosity += 1,
            ('t', _) => {
                let v = value.unwrap_or("");
                match v.parse::<u32>() {
                    Ok(n) if n > 0 && v.bytes().all(|b| b.is_ascii_digit()) => {
                        self.opts.timeout = Some(n)
                    }
                    _ => {
                        eprintln!("{}: value {v} on -t or --timeout is invalid", self.program);
                        return Err(1);
                    }
                }
            }
            ('h', _) => {
                print!("{}", usage(self.program));
                return Err(0);
            }
            ('o', _) => {
                print!("{}", option_list());
                return Err(0);
            }
            ('V', _) => {
                println!("{} (Open vSwitch) {VERSION}", self.program);
                return Err(0);
            }
            // Console logging levels; other destinations are accepted
            // and not used (this tool logs to the console only).
            ('v', _) => super::vlog::apply_spec(value),
            (_, Some("clear")) => self.opts.clear = true,
            (_, Some("may-create")) => self.opts.may_create = true,
            (_, Some("read-only")) => self.opts.read_only = true,
            (_, Some("names")) => {
                self.opts.names = true;
                self.names_set = true;
            }
            (_, Some("no-names")) => {
                self.opts.names = false;
                self.names_set = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn long(&mut self, arg: &str, next: Option<&String>, used_next: &mut bool) -> Result<(), i32> {
        let body = &arg[2..];
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let exact = LONG.iter().find(|(n, _, _)| *n == name);
        let candidates: Vec<_> = LONG
            .iter()
            .filter(|(n, _, _)| n.starts_with(name))
            .collect();
        let found = match (exact, candidates.as_slice()) {
            (Some(o), _) => o,
            (None, [one]) => *one,
            (None, []) => {
                eprintln!("{}: unrecognized option '{arg}'", self.argv0);
                return Err(1);
            }
            (None, many) => {
                let list: String = many.iter().map(|(n, _, _)| format!(" '--{n}'")).collect();
                eprintln!(
                    "{}: option '--{name}' is ambiguous; possibilities:{list}",
                    self.argv0
                );
                return Err(1);
            }
        };
        let (lname, kind, short) = *found;
        let value = match (kind, inline) {
            (Arg::None, Some(_)) => {
                eprintln!(
                    "{}: option '--{lname}' doesn't allow an argument",
                    self.argv0
                );
                return Err(1);
            }
            (Arg::Required, None) => match next {
                Some(v) => {
                    *used_next = true;
                    Some(v.as_str())
                }
                None => {
                    eprintln!("{}: option '--{lname}' requires an argument", self.argv0);
                    return Err(1);
                }
            },
            (_, v) => v,
        };
        self.apply(short.unwrap_or('\0'), Some(lname), value)
    }

    fn short(&mut self, arg: &str, next: Option<&String>, used_next: &mut bool) -> Result<(), i32> {
        let chars: Vec<char> = arg[1..].chars().collect();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            let Some((lname, kind, _)) = LONG.iter().find(|(_, _, s)| *s == Some(c)) else {
                eprintln!("{}: invalid option -- '{c}'", self.argv0);
                return Err(1);
            };
            let rest: String = chars[i + 1..].iter().collect();
            match kind {
                Arg::None => {
                    self.apply(c, Some(lname), None)?;
                    i += 1;
                }
                Arg::Optional => {
                    self.apply(c, Some(lname), (!rest.is_empty()).then_some(rest.as_str()))?;
                    return Ok(());
                }
                Arg::Required => {
                    if !rest.is_empty() {
                        return self.apply(c, Some(lname), Some(&rest));
                    }
                    match next {
                        Some(v) => {
                            *used_next = true;
                            return self.apply(c, Some(lname), Some(v));
                        }
                        None => {
                            eprintln!("{}: option requires an argument -- '{c}'", self.argv0);
                            return Err(1);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parses `args` (argv without argv[0]); returns the options and the
/// command with its arguments, or the status to exit with right away.
/// Option errors name `argv0` as given (as getopt does); other messages
/// the `program` name.
pub fn parse(argv0: &str, program: &str, args: &[String]) -> Result<(Options, Vec<String>), i32> {
    let mut p = Parser {
        argv0,
        program,
        names_set: false,
        opts: Options::default(),
    };
    let mut rest = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let next = args.get(i + 1);
        let mut used_next = false;
        if arg == "--" {
            rest.extend(args[i + 1..].iter().cloned());
            break;
        } else if arg.starts_with("--") {
            p.long(arg, next, &mut used_next)?;
        } else if arg.starts_with('-') && arg.len() > 1 {
            p.short(arg, next, &mut used_next)?;
        } else {
            rest.push(arg.clone());
        }
        i += if used_next { 2 } else { 1 };
    }
    if !p.names_set {
        p.opts.names = p.opts.verbosity > 0;
    }
    Ok((p.opts, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_anywhere_and_clustered() {
        let (o, rest) = parse("d", "d", &args("show -s dp0")).unwrap();
        assert!(o.statistics);
        assert_eq!(rest, args("show dp0"));
        let (o, rest) = parse("d", "d", &args("-sm --stat -t 5 dump-flows -- -x")).unwrap();
        assert!(o.statistics && o.names);
        assert_eq!(o.verbosity, 1);
        assert_eq!(o.timeout, Some(5));
        assert_eq!(rest, args("dump-flows -x"));
        let (o, _) = parse("d", "d", &args("--timeout=7 --no-names -m")).unwrap();
        assert_eq!(o.timeout, Some(7));
        assert!(!o.names);
    }

    #[test]
    fn errors_exit_with_failure() {
        assert_eq!(parse("d", "d", &args("show -x")).unwrap_err(), 1);
        assert_eq!(parse("d", "d", &args("--bogus")).unwrap_err(), 1);
        assert_eq!(parse("d", "d", &args("-t")).unwrap_err(), 1);
        assert_eq!(parse("d", "d", &args("-t 0")).unwrap_err(), 1);
        assert_eq!(parse("d", "d", &args("--clear=1")).unwrap_err(), 1);
        assert_eq!(parse("d", "d", &args("--n")).unwrap_err(), 1);
    }
}
