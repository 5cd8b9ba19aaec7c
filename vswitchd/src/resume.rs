//! NXT_RESUME in the datapath: a controller hands back the continuation
//! of a `controller(pause)` packet-in, and the pipeline goes on where it
//! paused.
//!
//! The OpenFlow side (`ferrovs_ofproto::xlate::packet_in::resume_state`)
//! turns the continuation into a frozen state with a recirculation id;
//! here the packet is executed with the single action `recirc(ID)` from
//! the datapath port it first came in on. The datapath then sends the
//! recirculated packet up as a miss, and the upcall handlers thaw and
//! translate it like any recirculation (megaflow installed, rules
//! credited), so a resumed packet takes the same path as a `ct(table=N)`
//! continuation.

use ferrovs_dpif::odp::{Action, Actions, Key, KeyAttr};
use ferrovs_dpif::Execute;
use ferrovs_ofproto::openflow::continuation::Resume;
use ferrovs_ofproto::openflow::error_table::OfpErr;
use ferrovs_ofproto::xlate::packet_in::resume_state;
use ferrovs_ofproto::ResumeHook;

use crate::bridge::{lock_dpif, SharedDpif};

/// The hook a bridge's OpenFlow side runs NXT_RESUME with.
pub fn hook(dpif: SharedDpif) -> ResumeHook {
    std::sync::Arc::new(move |bridge: &str, r: Resume| {
        let (rid, odp_port) = resume_state(bridge, &r)?;
        let key = Key {
            attrs: vec![KeyAttr::InPort(odp_port)],
        };
        let actions = Actions {
            list: vec![Action::Recirc(rid)],
        };
        let (Ok(key), Ok(actions)) = (key.to_nlattrs(), actions.to_nlattrs()) else {
            return Err(OfpErr::NXR_NOT_SUPPORTED);
        };
        let done = lock_dpif(&dpif).execute(&Execute {
            packet: &r.packet,
            key: &key,
            actions: &actions,
            probe: false,
            mru: 0,
        });
        // Stock reports only a stale continuation; a packet the datapath
        // refuses is dropped like any other.
        if let Err(e) = done {
            log::debug!(target: "ofproto_dpif", "{bridge}: NXT_RESUME execute failed: {e}");
        }
        Ok(())
    })
}
