//! Flow keys and masks from netlink bytes (`OVS_FLOW_ATTR_KEY`/`_MASK`, as
//! the kernel sends them in upcalls and dumps).
//!
//! Properties: decoding and printing never panic; a key that decodes
//! re-encodes to bytes that decode to the same key; when its text parses,
//! the text printed from that parsed key parses to the same key again.
#![no_main]

// Fixed random bytes and monotonic clock: the same run in every process (see
// the module).
#[path = "../src/fixed_env.rs"]
mod fixed_env;

use ferrovs_dpif::odp::{self, FormatOptions, Key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The printers used by dump-flows, with and without a mask.
    let verbose = FormatOptions {
        verbose: true,
        port_names: None,
    };
    let mut out = String::new();
    let _ = odp::format_flow(data, &[], &verbose, &mut out);
    out.clear();
    let _ = odp::format_flow(data, data, &FormatOptions::default(), &mut out);

    let Ok(key) = Key::from_nlattrs(data) else {
        return;
    };
    let bytes = key
        .to_nlattrs()
        .unwrap_or_else(|e| panic!("decoded key {key:?} does not encode: {e}"));
    let again = Key::from_nlattrs(&bytes)
        .unwrap_or_else(|e| panic!("re-encoded key {key:?} does not decode: {e}"));
    assert_eq!(again, key, "netlink round trip changed the key");

    // The text shows what stock shows, which is not everything hostile
    // bytes can hold (`frag=<error>`, bits outside a field, unknown nested
    // attributes): it need not parse, and what parses may differ. But text
    // printed from a parsed key parses to the same key.
    let text = key.to_text();
    if let Ok(parsed) = Key::parse_text(&text) {
        let canonical = parsed.to_text();
        let reparsed = Key::parse_text(&canonical)
            .unwrap_or_else(|e| panic!("printed key {canonical:?} does not parse: {e}"));
        assert_eq!(
            reparsed, parsed,
            "key text {canonical:?} reads back differently"
        );
    }
});
