//! Which datapath provider serves a Bridge `datapath_type`.
//!
//! - `netdev`: the userspace datapath (`netdev@ovs-netdev`) with real
//!   devices: system interfaces through packet sockets, tap devices for
//!   internal and tap ports.
//! - `system`: the kernel module; not in this build yet (a bridge asking
//!   for it gets a clear error).
//! - `--enable-dummy` works as in Open vSwitch: plain, it adds the `dummy`
//!   type; `=system` makes `system` bridges dummy too; `=override` makes
//!   every type dummy. Stock's dummy datapath is its userspace datapath
//!   with dummy devices, and so is ours (`dummy@ovs-dummy`).
//!
//! One datapath per type, shared by every bridge of that type.

use ferrovs_dpif::netdev::{DeviceMode, NetdevControl, NetdevDpif};
use ferrovs_dpif::Dpif;

use crate::cmdline::DummyMode;

/// The datapath types this daemon can open, for Open_vSwitch
/// `datapath_types`.
pub fn available_types(dummy: Option<DummyMode>) -> Vec<&'static str> {
    match dummy {
        None => vec!["netdev"],
        Some(DummyMode::Add) => vec!["dummy", "netdev"],
        Some(DummyMode::System) => vec!["dummy", "netdev", "system"],
        Some(DummyMode::Override) => vec!["dummy", "netdev", "system"],
    }
}

/// Interface types reconfiguration accepts, for Open_vSwitch `iface_types`.
pub const IFACE_TYPES: &[&str] = &[
    "dummy",
    "dummy-internal",
    "geneve",
    "gre",
    "internal",
    "patch",
    "system",
    "tap",
    "vxlan",
];

/// An opened datapath.
pub struct Opened {
    pub dpif: Box<dyn Dpif>,
    /// The userspace datapath's control handle (dummy devices, conntrack,
    /// pmd statistics).
    pub netdev: Option<NetdevControl>,
    /// Whether its ports are real devices (system, tap) rather than
    /// dummies.
    pub real_devices: bool,
    /// One upcall receiver per handler thread.
    pub upcalls: Vec<ferrovs_dpif::netdev::UpcallReceiver>,
}

/// Opens the datapath for `dp_type` ("system", "netdev", "dummy", ...),
/// with `n_handlers` upcall receivers.
pub fn open(dp_type: &str, dummy: Option<DummyMode>, n_handlers: usize) -> Result<Opened, String> {
    let is_dummy = matches!(
        (dp_type, dummy),
        (_, Some(DummyMode::Override)) | ("dummy", Some(_)) | ("system", Some(DummyMode::System))
    );
    let (name, mode) = match dp_type {
        // Stock names each backer after its type: dummy@ovs-dummy,
        // system@ovs-system under --enable-dummy=override.
        _ if is_dummy => (format!("ovs-{dp_type}"), DeviceMode::AllDummy),
        "netdev" => ("ovs-netdev".to_string(), DeviceMode::Real),
        // The kernel provider (dpif::netlink) plugs in here.
        "system" => return Err("the kernel datapath (type system) is not available in this build of ferrovs-vswitchd; use datapath_type=netdev".into()),
        other => return Err(format!("unknown datapath type {other}")),
    };
    let mut dp = NetdevDpif::create(&name, mode)
        .map_err(|e| format!("{dp_type}@{name}: could not create datapath: {e}"))?;
    dp.set_type_name(dp_type);
    dp.set_number_ports_by_name(is_dummy);
    let netdev = Some(dp.control());
    let upcalls = dp
        .upcall_receivers(n_handlers)
        .map_err(|e| format!("{dp_type}@{name}: upcall queues: {e}"))?;
    Ok(Opened {
        upcalls,
        dpif: Box::new(dp),
        netdev,
        real_devices: mode == DeviceMode::Real,
    })
}
