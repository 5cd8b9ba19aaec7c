//! Upcalls received per second by one `dpif::netlink::UpcallSocket`, on
//! the stock kernel module: the bench `kernel` scenario runs this inside
//! the VM of tests/vm/ (bench/benchlib/scenarios/kernel_guest.sh).
//!
//! A datapath with one veth port and no flows, so that every frame the
//! kernel receives on it misses and goes up; a thread sends UDP datagrams
//! into the veth's peer (a static neighbour, so no ARP) for the measured
//! time, with a new source port each time; this thread receives the MISS
//! upcalls. Prints `UPCALLS <received> <seconds> <sent> <lost>`, where
//! `lost` is the datapath's count of upcalls it could not queue.
//!
//! Usage: upcall_rate [SECONDS]  (default 3; needs root and the module)

use std::net::UdpSocket;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrovs_dpif::netlink::{NetlinkDpif, UpcallSocket};
use ferrovs_dpif::{Dpif, PortSpec};

const DP: &str = "fvupcall";
const PORT: &str = "fvu0";
const PEER: &str = "fvu1";

/// Runs iproute2's `ip` (in the VM, busybox's applet is not enough).
fn ip(args: &str) -> Result<(), String> {
    ip_quiet(args, false)
}

/// `ip`, its error messages kept or not.
fn ip_quiet(args: &str, quiet: bool) -> Result<(), String> {
    let prog = if std::path::Path::new("/bin/ip").exists() {
        "/bin/ip"
    } else {
        "ip"
    };
    let status = Command::new(prog)
        .args(args.split_whitespace())
        .stderr(if quiet {
            std::process::Stdio::null()
        } else {
            std::process::Stdio::inherit()
        })
        .status()
        .map_err(|e| format!("ip {args}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("ip {args}: {status}"))
    }
}

fn setup() -> Result<(NetlinkDpif, UpcallSocket), String> {
    let _ = ip_quiet(&format!("link del {PORT}"), true);
    ip(&format!("link add {PORT} type veth peer name {PEER}"))?;
    ip(&format!("link set {PORT} up"))?;
    ip(&format!("link set {PEER} up"))?;
    ip(&format!("addr add 10.98.0.1/24 dev {PEER}"))?;
    ip(&format!(
        "neigh replace 10.98.0.2 lladdr 02:00:00:00:00:02 dev {PEER}"
    ))?;
    if let Ok(mut old) = NetlinkDpif::open(DP) {
        let _ = old.destroy();
    }
    let mut dp = NetlinkDpif::create(DP).map_err(|e| format!("creating {DP}: {e}"))?;
    dp.port_add(&PortSpec {
        name: PORT.into(),
        port_type: "system".into(),
        ..PortSpec::default()
    })
    .map_err(|e| format!("adding {PORT}: {e}"))?;
    let handler = UpcallSocket::new().map_err(|e| format!("upcall socket: {e}"))?;
    dp.set_upcall_pids_per_cpu(&[handler.pid()])
        .or_else(|_| dp.set_upcall_pids_per_vport(&[handler.pid()]))
        .map_err(|e| format!("setting the upcall socket: {e}"))?;
    Ok((dp, handler))
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let (mut dp, mut handler) = match setup() {
        Ok(s) => s,
        Err(e) => {
            println!("MISSING {e}");
            let _ = ip(&format!("link del {PORT}"));
            std::process::exit(1);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let Ok(sock) = UdpSocket::bind("10.98.0.1:0") else {
                return;
            };
            let mut port: u16 = 1024;
            while !stop.load(Ordering::Relaxed) {
                port = port.wrapping_add(1).max(1024);
                if sock.send_to(b"upcall", ("10.98.0.2", port)).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let lost_before = dp.stats().map(|s| s.n_lost).unwrap_or(0);
    let start = Instant::now();
    let window = Duration::from_secs_f64(seconds);
    let mut received: u64 = 0;
    while start.elapsed() < window {
        match handler.recv(Some(Duration::from_millis(100))) {
            Ok(Some(_)) => received += 1,
            Ok(None) => {}
            Err(e) => {
                // ENOBUFS: the socket overflowed; the kernel counts those
                // as lost. Anything else ends the run.
                if e.errno != libc::ENOBUFS {
                    println!("MISSING receiving upcalls: {e}");
                    break;
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    let lost = dp
        .stats()
        .map(|s| s.n_lost)
        .unwrap_or(0)
        .saturating_sub(lost_before);
    println!(
        "UPCALLS {received} {elapsed:.3} {} {lost}",
        sent.load(Ordering::Relaxed)
    );
    let _ = dp.destroy();
    let _ = ip(&format!("link del {PORT}"));
}
