//! Which datapath provider serves a Bridge `datapath_type`.
//!
//! `--enable-dummy` works as in Open vSwitch: plain, it adds the `dummy`
//! type; `=system` makes `system` bridges dummy too; `=override` makes every
//! type dummy. The kernel (`system`) and userspace (`netdev`) providers are
//! not part of this build; a bridge asking for one gets a clear error.

use ferrovs_dpif::dummy::DummyDpif;
use ferrovs_dpif::Dpif;

use crate::cmdline::DummyMode;

/// The datapath types this daemon can open, for Open_vSwitch
/// `datapath_types`.
pub fn available_types(dummy: Option<DummyMode>) -> Vec<&'static str> {
    match dummy {
        None => vec![],
        Some(DummyMode::Add) => vec!["dummy"],
        Some(DummyMode::System) => vec!["dummy", "system"],
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

/// Opens the datapath for `dp_type` ("system", "netdev", "dummy", ...).
pub fn open(dp_type: &str, dummy: Option<DummyMode>) -> Result<Box<dyn Dpif>, String> {
    let is_dummy = matches!(
        (dp_type, dummy),
        (_, Some(DummyMode::Override)) | ("dummy", Some(_)) | ("system", Some(DummyMode::System))
    );
    if is_dummy {
        // Stock names each dummy backer after its type: dummy@ovs-dummy,
        // system@ovs-system under --enable-dummy=override.
        return Ok(Box::new(DummyDpif::with_type(
            &format!("ovs-{dp_type}"),
            dp_type,
        )));
    }
    match dp_type {
        "system" => Err("the kernel datapath (type system) is not available in this build of ferrovs-vswitchd; use --enable-dummy for testing".into()),
        "netdev" => Err("the userspace datapath (type netdev) is not available in this build of ferrovs-vswitchd; use --enable-dummy for testing".into()),
        other => Err(format!("unknown datapath type {other}")),
    }
}
