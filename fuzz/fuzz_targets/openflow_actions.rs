//! OpenFlow action lists (1.0) and instruction lists (1.1 to 1.5), the
//! bodies of flow mods and packet outs:
//! `ferrovs_ofproto::openflow::actions::{decode, encode}` and
//! `{decode_instructions, encode_instructions}`.
//!
//! Input: one selector byte (`(b & 0x3f) % 6 + 1` is the version; bit 0x40 picks a
//! bare action list in 1.1+; bit 0x80 says the rule's match has a VLAN
//! tag), then the list.
//!
//! Properties: decoding and encoding never panic; encoding is canonical
//! after one round: when an encoding decodes, encode(decode) of it gives
//! the same bytes. (Not "the same value": a decoded
//! action remembers its wire form, e.g. NXAST_SET_TUNNEL, and OpenFlow 1.2+
//! encodes it as set_field; OpenFlow 1.0 set_vlan_vid on an untagged flow
//! gains its implied push_vlan.)
#![no_main]

// Fixed random bytes and monotonic clock: the same run in every process (see
// the module).
#[path = "../src/fixed_env.rs"]
mod fixed_env;

use ferrovs_ofproto::openflow::actions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let version = (selector & 0x3f) % 6 + 1;
    let has_vlan = selector & 0x80 != 0;
    let round = |b: &[u8]| -> Option<Vec<u8>> {
        let mut out = Vec::new();
        if version == 1 || selector & 0x40 != 0 {
            let list = actions::decode(version, b).ok()?;
            actions::encode(version, &list, has_vlan, &mut out);
        } else {
            let ins = actions::decode_instructions(version, b).ok()?;
            actions::encode_instructions(version, &ins, has_vlan, &mut out);
        }
        Some(out)
    };
    let Some(first) = round(bytes) else {
        return;
    };
    // An encoding need not decode: like stock, NXAST_REG_LOAD2 may load
    // OXM in_port, which OpenFlow 1.2+ then encodes as a set_field that the
    // decoder refuses (OpenFlow forbids set_field on in_port). When it
    // decodes, encoding again must give the same bytes.
    let Some(second) = round(&first) else {
        return;
    };
    let third =
        round(&second).unwrap_or_else(|| panic!("stable encoding does not decode: {second:02x?}"));
    assert_eq!(third, second, "encoding is not stable (first {first:02x?})");
});
