//! One entry point that runs every decoder of what arrives on our netlink
//! sockets over the same bytes, for the `netlink_msg` fuzz target (see
//! fuzz/README.md) and the hostile-input tests. Whatever the bytes, each
//! decoder must return a value or an error, never panic.

use super::ct_limit;
use super::datapath::DpInfo;
use super::flow::parse_flow;
use super::meter;
use super::notify::port_change;
use super::packet::parse_upcall;
use super::socket::{parse_datagram_for_tests, parse_family_reply, GenlBody, Received};
use super::vport::VportInfo;

/// Runs every body decoder on one generic netlink message body.
fn decode_body(body: &GenlBody) {
    let _ = DpInfo::parse(body);
    let _ = VportInfo::parse(body);
    let _ = parse_flow(body);
    let _ = parse_upcall(body);
    let _ = meter::parse_features(body);
    let _ = meter::parse_stats(body);
    let _ = ct_limit::parse_reply(&body.bytes);
    let _ = port_change(body);
    let _ = parse_family_reply("fuzz", body);
}

/// Decodes `data` the two ways hostile bytes can reach us: as a whole
/// datagram (netlink and generic netlink headers, possibly several
/// messages, errors and dump ends), whose messages then go through every
/// body decoder; and, with its first two bytes taken as the generic
/// netlink command and version, as a bare message body.
#[doc(hidden)]
pub fn decode_untrusted(data: &[u8]) {
    if let Ok(messages) = parse_datagram_for_tests(data) {
        for m in messages {
            if let Received::Message { body, .. } = m {
                decode_body(&body);
            }
        }
    }
    if let [cmd, version, rest @ ..] = data {
        decode_body(&GenlBody {
            cmd: *cmd,
            version: *version,
            bytes: rest.to_vec(),
        });
    }
}
