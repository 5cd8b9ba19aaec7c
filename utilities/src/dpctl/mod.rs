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

use std::cell::RefCell;
use std::io::{IsTerminal, Write};

use ferrovs_dpif::netlink::strerror;

pub use options::Options;

/// What every command gets: the options and the program's name (errors
/// start with it, as in Open vSwitch: the basename of argv[0]).
pub struct Ctx {
    pub program: String,
    pub opts: Options,
    out: StdoutBuffer,
}

/// Standard output buffered as the C library buffers it for ovs-dpctl:
/// straight through on a terminal, in 4096-byte blocks otherwise (a file,
/// a pipe), so that where output and error messages (unbuffered) land
/// relative to each other in a captured log is the same as with stock.
struct StdoutBuffer {
    block: bool,
    buf: RefCell<Vec<u8>>,
}

const STDIO_BLOCK: usize = 4096;

impl StdoutBuffer {
    fn new() -> Self {
        StdoutBuffer {
            block: !std::io::stdout().is_terminal(),
            buf: RefCell::new(Vec::with_capacity(STDIO_BLOCK)),
        }
    }

    fn write(&self, mut data: &[u8]) {
        let mut out = std::io::stdout().lock();
        if !self.block {
            let _ = out.write_all(data);
            let _ = out.flush();
            return;
        }
        let mut buf = self.buf.borrow_mut();
        // Fill the buffer; if more is left, write the full buffer, then
        // whole blocks straight from the data, and keep the rest.
        let n = (STDIO_BLOCK - buf.len()).min(data.len());
        buf.extend_from_slice(&data[..n]);
        data = &data[n..];
        if !data.is_empty() {
            let _ = out.write_all(&buf);
            buf.clear();
            let whole = data.len() - data.len() % STDIO_BLOCK;
            let _ = out.write_all(&data[..whole]);
            buf.extend_from_slice(&data[whole..]);
        }
        let _ = out.flush();
    }

    fn flush(&self) {
        let mut buf = self.buf.borrow_mut();
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&buf);
        let _ = out.flush();
        buf.clear();
    }
}

impl Ctx {
    /// Regular output (see [`StdoutBuffer`] for when it is written).
    pub fn print(&self, s: &str) {
        self.out.write(s.as_bytes());
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
    let ctx = Ctx {
        program,
        opts,
        out: StdoutBuffer::new(),
    };
    let status = commands::run(&ctx, &rest);
    ctx.out.flush();
    match status {
        0 => 0,
        _ => 1,
    }
}
