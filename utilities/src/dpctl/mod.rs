//! ferrovs-dpctl: a drop-in for ovs-dpctl. Same command line, same output,
//! same messages and exit status, on the kernel datapath (`dpif::netlink`).

mod clock;
mod commands;
mod ct;
mod flows;
mod options;
mod ports;
mod show;
mod sset_order;
pub mod vlog;

use std::io::Write;

use ferrovs_dpif::netlink::strerror;

pub use options::Options;

/// What every command gets: the options and the program's name (errors
/// start with it, as in Open vSwitch: the basename of argv[0]).
pub struct Ctx {
    pub program: String,
    pub opts: Options,
}

impl Ctx {
    /// Regular output, flushed at once so that it interleaves with errors
    /// in the order they happened.
    pub fn print(&self, s: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
    }

    /// `PROGRAM: MESSAGE (ERRNO TEXT)` on stderr; no errno part for 0.
    pub fn error(&self, errno: i32, msg: &str) {
        let mut line = format!("{}: {msg}", self.program);
        if errno != 0 {
            line.push_str(&format!(" ({})", strerror(errno)));
        }
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// Runs ferrovs-dpctl with `args` (argv, program name first); returns the
/// exit status.
pub fn main(args: Vec<String>) -> i32 {
    vlog::init();
    let program = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_else(|| "ferrovs-dpctl".to_string());
    let argv0 = args.first().map_or("ferrovs-dpctl", String::as_str);
    let (opts, rest) = match options::parse(argv0, &program, args.get(1..).unwrap_or(&[])) {
        Ok(parsed) => parsed,
        Err(status) => return status,
    };
    let ctx = Ctx { program, opts };
    match commands::run(&ctx, &rest) {
        0 => 0,
        _ => 1,
    }
}
