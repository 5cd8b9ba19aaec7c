//! ofp-null-responder: an OpenFlow "switch" that does no switch work at all.
//!
//! Usage: `ofp-null-responder PATH` listens on the unix socket PATH (what
//! `ovs-ofctl` reaches as `unix:PATH`) and answers only what a client waits
//! for: HELLO with HELLO (OpenFlow 1.0 to 1.5 offered, as a bridge without a
//! `protocols` column does), ECHO_REQUEST with ECHO_REPLY, BARRIER_REQUEST
//! with BARRIER_REPLY, BUNDLE_CONTROL requests with their replies, and
//! FEATURES_REQUEST with a features reply that lists no port, and statistics
//! (multipart) requests with an empty reply of their kind (the table features
//! reply, which cannot be empty, lists table 0 without a name or features), each in the
//! version of the request. (Before add-flows, ovs-ofctl learns the switch's
//! port and table names, each on a connection of its own: the features reply
//! or port descriptions, and the table statistics or table features.) Flow mods, bundle additions and other
//! messages that only have a reply on error are read and dropped; any other
//! request gets an OFPT_ERROR (bad request, bad type), so that a client never
//! waits for an answer that will not come.
//!
//! bench/run's flowmod scenario times `ovs-ofctl add-flows` against it: the
//! floor that the client, the kernel and the scheduler set, below which no
//! switch can go (bench/README.md).
//!
//! Each connection has a thread of its own, which answers all the messages
//! one read returned with one write. After each read it looks for the next
//! message without sleeping (yielding the CPU between looks) for up to
//! `--poll-us` microseconds (default 1000, far longer than ovs-ofctl takes
//! between two requests), and only then sleeps in a blocking read: so the
//! peer's requests never wait for this side to wake up, only the peer's
//! replies wait for the peer to wake. `--poll-us 0` makes it an ordinary
//! blocking server.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long after each message the connection is read again without
/// sleeping (yielding the CPU between reads) before a blocking read.
const DEFAULT_POLL_US: u64 = 1000;
/// Upper bound of `--poll-us`.
const MAX_POLL_US: u64 = 100_000;
/// OpenFlow header length.
const HEADER_LEN: usize = 8;
/// Versions offered in our HELLO's bitmap: OpenFlow 1.0 (0x01) to 1.5 (0x06).
const OFFERED_VERSIONS: u32 = 0b0111_1110;
const OFP15_VERSION: u8 = 0x06;

// Message types (those we look at).
const OFPT_HELLO: u8 = 0;
const OFPT_ERROR: u8 = 1;
const OFPT_ECHO_REQUEST: u8 = 2;
const OFPT_ECHO_REPLY: u8 = 3;
const OFPT_EXPERIMENTER: u8 = 4;
const OFPT_FEATURES_REQUEST: u8 = 5;
const OFPT_FEATURES_REPLY: u8 = 6;
const OFPT_FLOW_MOD: u8 = 14;
const OFPT10_STATS_REQUEST: u8 = 16;
const OFPT10_STATS_REPLY: u8 = 17;
const OFPT11_MULTIPART_REQUEST: u8 = 18;
const OFPT11_MULTIPART_REPLY: u8 = 19;
const OFPT10_BARRIER_REQUEST: u8 = 18;
const OFPT10_BARRIER_REPLY: u8 = 19;
const OFPT11_BARRIER_REQUEST: u8 = 20;
const OFPT11_BARRIER_REPLY: u8 = 21;
const OFPT14_BUNDLE_CONTROL: u8 = 33;
const OFPT14_BUNDLE_ADD_MESSAGE: u8 = 34;
const OFP10_VERSION: u8 = 0x01;
const OFP13_VERSION: u8 = 0x04;
const OFP14_VERSION: u8 = 0x05;
/// OFPMP_TABLE_FEATURES, from OpenFlow 1.3 on.
const OFPMP13_TABLE_FEATURES: u16 = 12;

/// OFPET_BAD_REQUEST / OFPBRC_BAD_TYPE.
const BAD_REQUEST: u16 = 1;
const BAD_TYPE: u16 = 1;

/// The fixed header of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    version: u8,
    kind: u8,
    length: usize,
    xid: u32,
}

impl Header {
    fn parse(bytes: &[u8]) -> Option<Header> {
        let h: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            version: h[0],
            kind: h[1],
            length: usize::from(u16::from_be_bytes([h[2], h[3]])),
            xid: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        })
    }
}

/// Appends one message with the given header fields and body to `out`.
fn put_message(out: &mut Vec<u8>, version: u8, kind: u8, xid: u32, body: &[u8]) {
    // Bodies here are at most a request's own length (< 64 KiB) plus 4.
    let length = u16::try_from(HEADER_LEN + body.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&[version, kind]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(body);
}

/// Our HELLO: OpenFlow 1.5 with a version bitmap element (type 1, length 8).
fn hello(out: &mut Vec<u8>) {
    let mut body = [0u8; 8];
    body[..2].copy_from_slice(&1u16.to_be_bytes());
    body[2..4].copy_from_slice(&8u16.to_be_bytes());
    body[4..].copy_from_slice(&OFFERED_VERSIONS.to_be_bytes());
    put_message(out, OFP15_VERSION, OFPT_HELLO, 0, &body);
}

/// Appends to `out` the reply `msg` (one whole message) needs, if any.
fn answer(msg: &[u8], out: &mut Vec<u8>) {
    let Some(h) = Header::parse(msg) else { return };
    let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
    match (h.kind, h.version) {
        (OFPT_HELLO | OFPT_ERROR | OFPT_ECHO_REPLY | OFPT_EXPERIMENTER | OFPT_FLOW_MOD, _) => {}
        (OFPT_ECHO_REQUEST, v) => put_message(out, v, OFPT_ECHO_REPLY, h.xid, body),
        (OFPT10_BARRIER_REQUEST, OFP10_VERSION) => {
            put_message(out, OFP10_VERSION, OFPT10_BARRIER_REPLY, h.xid, &[])
        }
        (OFPT11_BARRIER_REQUEST, v) if v > OFP10_VERSION => {
            put_message(out, v, OFPT11_BARRIER_REPLY, h.xid, &[])
        }
        (OFPT_FEATURES_REQUEST, v) => {
            // datapath_id 1, n_buffers 0, n_tables 254, the rest 0: no
            // capabilities, and (before OpenFlow 1.3) no ports.
            let mut reply = [0u8; 24];
            reply[7] = 1;
            reply[12] = 254;
            put_message(out, v, OFPT_FEATURES_REPLY, h.xid, &reply)
        }
        (OFPT10_STATS_REQUEST, OFP10_VERSION) if body.len() >= 2 => {
            // Statistics type, then flags 0: no entries, no more to come.
            let reply = [body[0], body[1], 0, 0];
            put_message(out, OFP10_VERSION, OFPT10_STATS_REPLY, h.xid, &reply)
        }
        (OFPT11_MULTIPART_REQUEST, v) if v > OFP10_VERSION && body.len() >= 2 => {
            // The same from OpenFlow 1.1 on, with 4 bytes of padding.
            let mut reply = vec![body[0], body[1], 0, 0, 0, 0, 0, 0];
            let kind = u16::from_be_bytes([body[0], body[1]]);
            if v >= OFP13_VERSION && kind == OFPMP13_TABLE_FEATURES {
                // One ofp_table_features: table 0, no name, no metadata
                // bits, 1,000,000 entries, and the properties OpenFlow 1.3
                // and 1.4 require (instructions, next tables, write and
                // apply actions, match, wildcards, write and apply
                // set-field: types 0 to 14, even), each an empty list.
                let mut table = [0u8; 64 + 8 * 8];
                table[..2].copy_from_slice(&128u16.to_be_bytes());
                table[60..64].copy_from_slice(&1_000_000u32.to_be_bytes());
                for (i, prop) in table[64..].chunks_exact_mut(8).enumerate() {
                    prop[1] = 2 * i as u8; // type
                    prop[3] = 4; // length: the property header alone
                }
                reply.extend_from_slice(&table);
            }
            put_message(out, v, OFPT11_MULTIPART_REPLY, h.xid, &reply)
        }
        (OFPT14_BUNDLE_ADD_MESSAGE, v) if v >= OFP14_VERSION => {}
        (OFPT14_BUNDLE_CONTROL, v) if v >= OFP14_VERSION && body.len() >= 8 => {
            // bundle_id(4) type(2) flags(2): the reply of each request type
            // (open, close, commit, discard: 0, 2, 4, 6) is the next number.
            let mut reply = [0u8; 8];
            reply.copy_from_slice(&body[..8]);
            let kind = u16::from_be_bytes([body[4], body[5]]);
            reply[4..6].copy_from_slice(&(kind | 1).to_be_bytes());
            put_message(out, v, OFPT14_BUNDLE_CONTROL, h.xid, &reply);
        }
        (_, v) => {
            // Error type and code, then (up to 64 bytes of) the request.
            let mut data = Vec::with_capacity(4 + 64);
            data.extend_from_slice(&BAD_REQUEST.to_be_bytes());
            data.extend_from_slice(&BAD_TYPE.to_be_bytes());
            data.extend_from_slice(&msg[..msg.len().min(64)]);
            put_message(out, v, OFPT_ERROR, h.xid, &data);
        }
    }
}

/// Answers every whole message at the front of `input`; returns how many
/// bytes they took, or None when a header is malformed (length < 8).
fn answer_all(input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let mut used = 0;
    while let Some(h) = input.get(used..).and_then(Header::parse) {
        if h.length < HEADER_LEN {
            return None;
        }
        let Some(msg) = input.get(used..used + h.length) else {
            break;
        };
        answer(msg, out);
        used += h.length;
    }
    Some(used)
}

/// Reads what the peer sent into `buf`: at once if there is something, else
/// by looking again (yielding the CPU in between) until `poll` has passed
/// since the last message, and only then by sleeping in a blocking read.
/// The socket is non-blocking between calls. Returns 0 at end of file.
fn read_polling(stream: &mut UnixStream, buf: &mut [u8], poll: Duration) -> io::Result<usize> {
    let until = Instant::now() + poll;
    loop {
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() < until {
                    std::thread::yield_now();
                    continue;
                }
                stream.set_nonblocking(false)?;
                let read = loop {
                    match stream.read(buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        other => break other,
                    }
                };
                stream.set_nonblocking(true)?;
                return read;
            }
            Err(e) => return Err(e),
        }
    }
}

fn serve(mut stream: UnixStream, poll: Duration) -> io::Result<()> {
    let mut out = Vec::with_capacity(4096);
    hello(&mut out);
    stream.write_all(&out)?;
    stream.set_nonblocking(true)?;
    // Room for the longest message (64 KiB) plus what follows it.
    let mut buf = vec![0u8; 256 * 1024];
    let mut filled = 0;
    loop {
        let n = read_polling(&mut stream, &mut buf[filled..], poll)?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        out.clear();
        let Some(used) = answer_all(&buf[..filled], &mut out) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "message length < 8",
            ));
        };
        write_all(&mut stream, &out)?;
        buf.copy_within(used..filled, 0);
        filled -= used;
    }
}

/// `write_all` on a non-blocking socket: a full socket buffer (a peer that
/// does not read) is waited out by yielding.
fn write_all(stream: &mut UnixStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

const USAGE: &str = "usage: ofp-null-responder [--poll-us N] SOCKET-PATH";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (poll_us, path) = match args.as_slice() {
        [path] => (DEFAULT_POLL_US, path),
        [flag, n, path] if flag == "--poll-us" => match n.parse::<u64>() {
            Ok(n) if n <= MAX_POLL_US => (n, path),
            _ => {
                eprintln!("ofp-null-responder: --poll-us wants 0 to {MAX_POLL_US}\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let poll = Duration::from_micros(poll_us);
    // The socket is bound under a temporary name and renamed once it
    // listens, so that PATH existing means a client can connect (a bound
    // socket refuses connections until listen). A file left by an earlier
    // run would make bind fail.
    let bound = format!("{path}.bind");
    let _ = std::fs::remove_file(&bound);
    let listener = match UnixListener::bind(&bound).and_then(|l| {
        std::fs::rename(&bound, path)?;
        Ok(l)
    }) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ofp-null-responder: cannot listen on {path}: {e}");
            let _ = std::fs::remove_file(&bound);
            return ExitCode::FAILURE;
        }
    };
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                std::thread::spawn(move || {
                    if let Err(e) = serve(stream, poll) {
                        eprintln!("ofp-null-responder: connection ended: {e}");
                    }
                });
            }
            Err(e) => eprintln!("ofp-null-responder: accept: {e}"),
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(version: u8, kind: u8, xid: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        put_message(&mut m, version, kind, xid, body);
        m
    }

    #[test]
    fn hello_offers_1_0_to_1_5() {
        let mut out = Vec::new();
        hello(&mut out);
        assert_eq!(out, [6, 0, 0, 16, 0, 0, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0x7e]);
    }

    #[test]
    fn barrier_reply_in_the_request_version() {
        let mut out = Vec::new();
        answer(&msg(1, 18, 7, &[]), &mut out);
        assert_eq!(out, msg(1, 19, 7, &[]));
        out.clear();
        answer(&msg(6, 20, 9, &[]), &mut out);
        assert_eq!(out, msg(6, 21, 9, &[]));
    }

    #[test]
    fn statistics_requests_get_an_empty_reply_of_their_kind() {
        let mut out = Vec::new();
        answer(&msg(1, 16, 2, &[0, 3, 0, 0]), &mut out); // OF1.0 table stats
        assert_eq!(out, msg(1, 17, 2, &[0, 3, 0, 0]));
        out.clear();
        answer(&msg(5, 18, 4, &[0, 13, 0, 0, 0, 0, 0, 0]), &mut out); // port descs
        assert_eq!(out, msg(5, 19, 4, &[0, 13, 0, 0, 0, 0, 0, 0]));
        out.clear();
        answer(&msg(5, 18, 5, &[0, 12, 0, 0, 0, 0, 0, 0]), &mut out); // table features
        assert_eq!(out.len(), 16 + 128);
        assert_eq!(out[16..18], [0, 128]);
        assert_eq!(out[16 + 64 + 56..], [0, 14, 0, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn features_reply_without_ports() {
        let mut out = Vec::new();
        answer(&msg(1, 5, 6, &[]), &mut out);
        assert_eq!(out.len(), 32);
        assert_eq!(out[..8], [1, 6, 0, 32, 0, 0, 0, 6]);
    }

    #[test]
    fn echo_reply_carries_the_body() {
        let mut out = Vec::new();
        answer(&msg(4, 2, 3, b"abc"), &mut out);
        assert_eq!(out, msg(4, 3, 3, b"abc"));
    }

    #[test]
    fn bundle_control_open_and_commit_get_their_replies() {
        let mut out = Vec::new();
        let open = [0, 0, 0, 5, 0, 0, 0, 3];
        answer(&msg(6, 33, 1, &open), &mut out);
        assert_eq!(out, msg(6, 33, 1, &[0, 0, 0, 5, 0, 1, 0, 3]));
        out.clear();
        let commit = [0, 0, 0, 5, 0, 4, 0, 3];
        answer(&msg(6, 33, 2, &commit), &mut out);
        assert_eq!(out, msg(6, 33, 2, &[0, 0, 0, 5, 0, 5, 0, 3]));
    }

    #[test]
    fn flow_mods_and_bundle_adds_get_no_reply_others_an_error() {
        let mut out = Vec::new();
        answer(&msg(6, 14, 1, &[0; 48]), &mut out);
        answer(&msg(6, 34, 2, &[0; 24]), &mut out);
        assert!(out.is_empty());
        answer(&msg(6, 9, 3, &[]), &mut out); // get-config request
        assert_eq!(out, msg(6, 1, 3, &[0, 1, 0, 1, 6, 9, 0, 8, 0, 0, 0, 3]));
    }

    #[test]
    fn answers_whole_messages_and_keeps_the_partial_one() {
        let mut input = msg(6, 20, 1, &[]);
        input.extend(msg(6, 14, 2, &[0; 40]));
        input.extend(&msg(6, 20, 3, &[])[..5]);
        let mut out = Vec::new();
        assert_eq!(answer_all(&input, &mut out), Some(8 + 48));
        assert_eq!(out, msg(6, 21, 1, &[]));
        assert_eq!(answer_all(&[6, 20, 0, 4, 0, 0, 0, 0], &mut out), None);
    }
}
