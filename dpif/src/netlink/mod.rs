//! The kernel provider: drives the Linux `openvswitch` module over its
//! generic netlink families `ovs_datapath`, `ovs_vport`, `ovs_flow` and
//! `ovs_packet`, with blocking sockets.
//!
//! - [`Netlink`]: one socket plus the resolved family ids; the typed
//!   requests of each family live in their own module (`datapath`,
//!   `vport`, `flow`, `packet`).
//! - [`NetlinkDpif`]: the [`crate::Dpif`] trait on top of it, negotiating
//!   datapath features the way Open vSwitch 3.1 does.
//! - [`UpcallSocket`]: a handler's socket for MISS and ACTION upcalls.
//! - [`PortWatcher`]: notifications of ports added, deleted or changed.

mod attrs;
pub mod consts;
mod ct_limit;
mod datapath;
mod dpif;
mod flow;
mod fuzz;
mod meter;
mod notify;
mod packet;
pub mod rtnl;
mod socket;
mod tunnel;
mod upcall;
mod vport;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod kernel_tests;

pub use attrs::{AttrWriter, Attrs};
pub use ct_limit::{CtLimits, ZoneLimit};
pub use datapath::{DpInfo, DpRequest};
pub use dpif::{DispatchMode, NetlinkDpif};
pub use flow::FlowRequest;
pub use fuzz::decode_untrusted;
pub use meter::{MeterBand, MeterConfig, MeterFeatures, MeterStats};
pub use notify::{PortChange, PortChangeKind, PortWatcher};
pub use socket::{strerror, FamilyInfo, GenlSocket};
pub use upcall::UpcallSocket;
pub use vport::{vport_type_name, VportInfo, VportRequest, VportStats};

use consts::{cmd, family};
use socket::Request;

use crate::{DpifError, Result};

/// The ids the kernel gave the OVS families when the module loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsFamilies {
    pub datapath: u16,
    pub vport: u16,
    pub flow: u16,
    pub packet: u16,
    /// The `ovs_vport` multicast group (port add/delete notifications).
    pub vport_mcgroup: Option<u32>,
    /// `ovs_ct_limit`, if the kernel has it (needs nf_conncount).
    pub ct_limit: Option<u16>,
    /// `ovs_meter`, if the kernel has it.
    pub meter: Option<u16>,
}

/// A connection to the kernel module: a netlink socket and the family ids.
#[derive(Debug)]
pub struct Netlink {
    sock: GenlSocket,
    families: OvsFamilies,
}

/// The errno and text when the module is missing, as ovs-dpctl words it.
fn family_missing(name: &str, e: DpifError) -> DpifError {
    if e.errno == libc::ENOENT {
        let text = format!(
            "Generic Netlink family '{name}' does not exist. \
             The Open vSwitch kernel module is probably not loaded."
        );
        log::info!(target: "dpif_netlink", "{text}");
        DpifError::new(libc::ENOENT, text)
    } else {
        e
    }
}

impl Netlink {
    /// Opens a socket and resolves the four families. Fails with ENOENT
    /// when the openvswitch module is not loaded.
    pub fn open() -> Result<Self> {
        let mut sock = GenlSocket::new()?;
        let dp = sock
            .resolve_family(family::DATAPATH)
            .map_err(|e| family_missing(family::DATAPATH, e))?;
        let vport = sock
            .resolve_family(family::VPORT)
            .map_err(|e| family_missing(family::VPORT, e))?;
        let flow = sock
            .resolve_family(family::FLOW)
            .map_err(|e| family_missing(family::FLOW, e))?;
        let packet = sock
            .resolve_family(family::PACKET)
            .map_err(|e| family_missing(family::PACKET, e))?;
        let meter_family = sock
            .resolve_family(consts::meter::FAMILY)
            .ok()
            .map(|f| f.id);
        let ct_limit = sock
            .resolve_family(consts::ct_limit::FAMILY)
            .ok()
            .map(|f| f.id);
        Ok(Netlink {
            sock,
            families: OvsFamilies {
                datapath: dp.id,
                vport: vport.id,
                flow: flow.id,
                packet: packet.id,
                vport_mcgroup: vport.mcast_group(family::VPORT_MCGROUP),
                ct_limit,
                meter: meter_family,
            },
        })
    }

    pub fn families(&self) -> &OvsFamilies {
        &self.families
    }

    /// A request to `family`. Commands that change something ask the
    /// kernel to echo the result (it only sends it to the multicast group
    /// otherwise).
    fn request(&self, family: u16, version: u8, command: u8, body: Vec<u8>) -> Request {
        let echo = matches!(command, cmd::NEW | cmd::DEL | cmd::SET);
        Request {
            family,
            cmd: command,
            version,
            flags: if echo {
                netlink_packet_core::NLM_F_ECHO
            } else {
                0
            },
            body,
        }
    }
}
