//! Datapath action lists from netlink bytes (`OVS_FLOW_ATTR_ACTIONS`, as
//! the kernel sends them in dumps).
//!
//! Properties: decoding and printing never panic; actions that decode
//! re-encode to bytes that decode to the same actions; when their text
//! parses, the text printed from the parsed actions parses to the same
//! actions again.
#![no_main]

// Fixed random bytes and monotonic clock: the same run in every process (see
// the module).
#[path = "../src/fixed_env.rs"]
mod fixed_env;

use ferrovs_dpif::odp::{self, Actions, FormatOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = String::new();
    let _ = odp::format_actions(data, &FormatOptions::default(), &mut out);

    let Ok(actions) = Actions::from_nlattrs(data) else {
        return;
    };
    let bytes = actions
        .to_nlattrs()
        .unwrap_or_else(|e| panic!("decoded actions {actions:?} do not encode: {e}"));
    let again = Actions::from_nlattrs(&bytes)
        .unwrap_or_else(|e| panic!("re-encoded actions {actions:?} do not decode: {e}"));
    assert_eq!(again, actions, "netlink round trip changed the actions");

    // As for keys (see odp_key): the text need not parse (`ct(error)`, raw
    // tunnel headers the text cannot describe) and parsing fills defaults
    // (an absent userspace cookie is 48 zero bytes, as stock), but text
    // printed from parsed actions parses to the same actions.
    let text = actions.to_text();
    if let Ok(parsed) = Actions::parse_text(&text) {
        let canonical = parsed.to_text();
        let reparsed = Actions::parse_text(&canonical)
            .unwrap_or_else(|e| panic!("printed actions {canonical:?} do not parse: {e}"));
        assert_eq!(
            reparsed, parsed,
            "actions text {canonical:?} reads back differently"
        );
    }
});
