//! Which datapath provider serves a Bridge `datapath_type`.
//!
//! - `netdev`: the userspace datapath (`netdev@ovs-netdev`) with real
//!   devices: system interfaces through packet sockets, tap devices for
//!   internal and tap ports.
//! - `system`: the Linux `openvswitch` module (`system@ovs-system`,
//!   through `dpif::netlink`); see [`kernel`].
//! - `--enable-dummy` works as in Open vSwitch: plain, it adds the `dummy`
//!   type; `=system` makes `system` bridges dummy too; `=override` makes
//!   every type dummy. Stock's dummy datapath is its userspace datapath
//!   with dummy devices, and so is ours (`dummy@ovs-dummy`).
//!
//! One datapath per type, shared by every bridge of that type.

use ferrovs_dpif::netdev::{DeviceMode, NetdevControl, NetdevDpif};
use ferrovs_dpif::Dpif;

use crate::cmdline::DummyMode;
use crate::upcall::UpcallSource;

pub mod kernel;

/// The datapath types this daemon can open, for Open_vSwitch
/// `datapath_types`: `system` when the kernel module answers (or a dummy
/// stands in for it).
pub fn available_types(dummy: Option<DummyMode>) -> Vec<&'static str> {
    match dummy {
        None if kernel::module_loaded() => vec!["netdev", "system"],
        None => vec!["netdev"],
        Some(DummyMode::Add) if kernel::module_loaded() => vec!["dummy", "netdev", "system"],
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

/// The interface types to list in Open_vSwitch `iface_types`: the dummy
/// types only when dummies are enabled, as stock lists them.
pub fn iface_types(dummy: Option<DummyMode>) -> Vec<&'static str> {
    IFACE_TYPES
        .iter()
        .copied()
        .filter(|t| dummy.is_some() || !t.starts_with("dummy"))
        .collect()
}

/// An opened datapath.
pub struct Opened {
    pub dpif: Box<dyn Dpif>,
    /// The userspace datapath's control handle (dummy devices, conntrack,
    /// pmd statistics).
    pub netdev: Option<NetdevControl>,
    /// Whether its ports are real devices (system, tap) rather than
    /// dummies.
    pub real_devices: bool,
    /// One upcall source per handler thread.
    pub upcalls: Vec<UpcallSource>,
    /// The kernel datapath existed before (a restart after a plain
    /// `exit`): ports nobody configures are to be removed after the
    /// first reconfiguration, as stock does.
    pub existed: bool,
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
        "system" => return kernel::open(n_handlers),
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
        upcalls: upcalls.into_iter().map(UpcallSource::Userspace).collect(),
        dpif: Box::new(dp),
        netdev,
        real_devices: mode == DeviceMode::Real,
        existed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_interface_types_are_listed_only_with_dummies() {
        let plain = iface_types(None);
        assert!(plain.contains(&"system") && plain.contains(&"internal"));
        assert!(!plain.iter().any(|t| t.starts_with("dummy")));
        let dummy = iface_types(Some(DummyMode::Add));
        assert!(dummy.contains(&"dummy") && dummy.contains(&"dummy-internal"));
    }

    #[test]
    fn system_is_offered_exactly_when_the_module_answers() {
        let types = available_types(None);
        assert_eq!(types.contains(&"system"), kernel::module_loaded());
        if !kernel::module_loaded() {
            // Without the module, a system bridge gets stock's reason.
            let e = open("system", None, 1).err().unwrap_or_default();
            assert!(e.contains("kernel module"), "{e}");
        }
    }
}
