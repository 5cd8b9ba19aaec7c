//! OpenFlow messages from a connected peer (a controller or ovs-ofctl), as
//! the bridge's connection service hands them to the switch after the hello
//! exchange: `ferrovs_ofproto::switch::Switch::handle`, on a fresh switch.
//!
//! Input: one byte choosing the negotiated version (`b % 6 + 1`: OpenFlow
//! 1.0 to 1.5), then the byte stream the peer sends, cut into messages by
//! their header lengths as the service cuts it (a length under 8 ends it:
//! stock drops such a connection). Each message gets the negotiated version
//! (the service answers other versions itself).
//!
//! Properties: no panic, whatever the messages (so no lost connection or
//! daemon); every reply is one complete message: at least a header, the
//! header's length is the reply's size, and a version from 1.0 to 1.5.
#![no_main]

// Fixed random bytes and monotonic clock: the same run in every process (see
// the module).
#[path = "../src/fixed_env.rs"]
mod fixed_env;

use ferrovs_ofproto::switch::{ConnState, Switch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut stream)) = data.split_first() else {
        return;
    };
    let version = selector % 6 + 1;
    let mut switch = Switch::new("br0", 0x1);
    let mut conn = ConnState::new(version);
    while let Some(len) = stream
        .get(2..4)
        .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
    {
        if len < 8 || len > stream.len() {
            break;
        }
        let (msg, rest) = stream.split_at(len);
        stream = rest;
        let mut msg = msg.to_vec();
        msg[0] = version;
        for reply in switch.handle(&mut conn, &msg) {
            assert!(
                reply.len() >= 8,
                "reply shorter than a header: {reply:02x?}"
            );
            let header_len = usize::from(u16::from_be_bytes([reply[2], reply[3]]));
            assert_eq!(
                header_len,
                reply.len(),
                "reply length field is wrong: {reply:02x?}"
            );
            // Not always the connection's version: like stock, the error
            // for a bad flow monitor entry takes the version of the bytes
            // that follow it.
            assert!(
                (1..=6).contains(&reply[0]),
                "reply in no OpenFlow version: {reply:02x?}"
            );
        }
    }
});
