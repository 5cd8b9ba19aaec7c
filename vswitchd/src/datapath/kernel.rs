//! The kernel datapath for the daemon: `system@ovs-system` of the Linux
//! `openvswitch` module, through `dpif::netlink`.
//!
//! As stock, every `system` bridge shares the one datapath `ovs-system`;
//! it is opened if it is there (a restart after a plain `exit`) and
//! created otherwise, with the user features negotiated by
//! [`NetlinkDpif`]. Each handler thread gets its own upcall socket. The
//! kernel learns them per CPU (OVS_DP_F_DISPATCH_UPCALL_PER_CPU) when it
//! offers that, else every port lists them (OVS_DP_F_VPORT_PIDS).
//!
//! `FERROVS_DPIF_DISPATCH=per-vport` in the environment forces per-port
//! dispatch on kernels that offer per-CPU, so that the fallback can be
//! tested on the kernel at hand.

use std::sync::OnceLock;

use ferrovs_dpif::netlink::{DispatchMode, NetlinkDpif, UpcallSocket};
use ferrovs_dpif::DpifError;

use super::Opened;
use crate::upcall::UpcallSource;

/// The kernel datapath's name, as stock names it.
pub const DP_NAME: &str = "ovs-system";

/// Whether the kernel module answers (checked once: the module does not
/// come and go under a running daemon in any setting we support).
pub fn module_loaded() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| ferrovs_dpif::netlink::Netlink::open().is_ok())
}

/// Opens or creates `ovs-system` with `n_handlers` upcall sockets.
pub fn open(n_handlers: usize) -> Result<Opened, String> {
    let full = format!("system@{DP_NAME}");
    let (mut dp, existed) = match NetlinkDpif::open(DP_NAME) {
        Ok(dp) => (dp, true),
        Err(e) if e.errno == libc::ENODEV => {
            let dp = NetlinkDpif::create(DP_NAME)
                .map_err(|e| format!("{full}: could not create datapath: {e}"))?;
            (dp, false)
        }
        Err(e) => return Err(format!("{full}: could not open datapath: {e}")),
    };
    // Translation hashes select groups with what the kernel takes.
    dp.probe_max_hash_alg();
    let sockets = (0..n_handlers.max(1))
        .map(|_| UpcallSocket::new())
        .collect::<Result<Vec<_>, DpifError>>()
        .map_err(|e| format!("{full}: upcall sockets: {e}"))?;
    let pids: Vec<u32> = sockets.iter().map(UpcallSocket::pid).collect();
    // Controller actions send their packets to the first handler.
    if let Some(&pid) = pids.first() {
        ferrovs_ofproto::xlate::packet_in::set_upcall_pid(pid);
    }
    set_dispatch(&mut dp, &pids).map_err(|e| format!("{full}: upcall dispatch: {e}"))?;
    Ok(Opened {
        dpif: Box::new(dp),
        netdev: None,
        real_devices: true,
        upcalls: sockets.into_iter().map(UpcallSource::Kernel).collect(),
        existed,
    })
}

/// Tells the datapath where upcalls go: per CPU when the kernel offers
/// it (and the environment does not ask otherwise), per port else.
fn set_dispatch(dp: &mut NetlinkDpif, pids: &[u32]) -> Result<(), DpifError> {
    let forced_per_vport = std::env::var("FERROVS_DPIF_DISPATCH").is_ok_and(|v| v == "per-vport");
    if dp.dispatch_mode() == DispatchMode::PerCpu && !forced_per_vport {
        match dp.set_upcall_pids_per_cpu(pids) {
            Ok(()) => {
                log::info!(target: "dpif_netlink", "{}: {} upcall handler(s), per-cpu dispatch", DP_NAME, pids.len());
                return Ok(());
            }
            Err(e) => {
                log::info!(target: "dpif_netlink", "{DP_NAME}: per-cpu dispatch refused ({e}); using per-vport dispatch")
            }
        }
    }
    dp.set_upcall_pids_per_vport(pids)?;
    log::info!(target: "dpif_netlink", "{}: {} upcall handler(s), per-vport dispatch", DP_NAME, pids.len());
    Ok(())
}
