//! A blocking generic netlink socket: requests with their replies, dumps,
//! family resolution, and kernel errors with their extended-ack text.
//!
//! The netlink and generic netlink headers are handled by the rust-netlink
//! crates; the OVS families' payload (`struct ovs_header` plus attributes)
//! travels as raw bytes, built and read by the modules of each family.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use netlink_packet_core::{
    Emitable, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, ParseableParametrized,
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use super::attrs::Attrs;
use super::consts::nl;
use crate::{DpifError, Result};

/// Large enough for any reply or upcall: the kernel never sends a single
/// netlink message over 64 kB of packet plus its attributes.
const RECV_BUF_SIZE: usize = 256 * 1024;

/// The payload after the generic netlink header, kept as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenlBody {
    pub cmd: u8,
    pub version: u8,
    pub bytes: Vec<u8>,
}

impl GenlFamily for GenlBody {
    /// Not used: the family id is resolved by [`GenlSocket::resolve_family`]
    /// and set on each message.
    fn family_name() -> &'static str {
        ""
    }

    fn command(&self) -> u8 {
        self.cmd
    }

    fn version(&self) -> u8 {
        self.version
    }
}

impl Emitable for GenlBody {
    fn buffer_len(&self) -> usize {
        self.bytes.len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        buffer[..self.bytes.len()].copy_from_slice(&self.bytes);
    }
}

impl ParseableParametrized<[u8], GenlHeader> for GenlBody {
    fn parse_with_param(
        buf: &[u8],
        header: GenlHeader,
    ) -> std::result::Result<Self, netlink_packet_core::DecodeError> {
        Ok(GenlBody {
            cmd: header.cmd,
            version: header.version,
            bytes: buf.to_vec(),
        })
    }
}

/// A request to one family.
#[derive(Debug, Clone)]
pub struct Request {
    pub family: u16,
    pub cmd: u8,
    pub version: u8,
    /// NLM_F_* flags besides REQUEST/ACK/DUMP, e.g. NLM_F_ECHO, NLM_F_CREATE.
    pub flags: u16,
    pub body: Vec<u8>,
}

/// A generic netlink family as the kernel registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyInfo {
    pub id: u16,
    pub mcast_groups: Vec<(String, u32)>,
}

impl FamilyInfo {
    pub fn mcast_group(&self, name: &str) -> Option<u32> {
        self.mcast_groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }
}

/// One received message, already split from its datagram.
#[derive(Debug)]
pub enum Received {
    /// A message of a family, with its netlink sequence number and the
    /// sender's port id (0 for the kernel).
    Message { seq: u32, body: GenlBody },
    /// An ack (error 0) or an error.
    Ack { seq: u32, error: Option<DpifError> },
    /// The end of a dump.
    Done { seq: u32, error: Option<DpifError> },
}

/// A generic netlink socket bound to its own port id.
pub struct GenlSocket {
    sock: Socket,
    pid: u32,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for GenlSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenlSocket")
            .field("pid", &self.pid)
            .finish()
    }
}

impl AsRawFd for GenlSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

fn io_error(context: &str, e: io::Error) -> DpifError {
    let errno = e.raw_os_error().unwrap_or(libc::EIO);
    DpifError::new(errno, format!("{context}: {e}"))
}

/// The errno's text, as strerror() gives it (without Rust's " (os error N)").
pub fn strerror(errno: i32) -> String {
    let s = io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Builds the error of an NLMSG_ERROR message: its errno and, when the
/// kernel attached one, the extended-ack text.
fn kernel_error(flags: u16, code: i32, rest: &[u8]) -> DpifError {
    let errno = code.checked_neg().unwrap_or(libc::EIO);
    let mut text = None;
    if flags & nl::NLM_F_ACK_TLVS != 0 {
        // After the error code comes the request: only its header when
        // capped, else the whole message; the TLVs follow it.
        let request_len = if flags & nl::NLM_F_CAPPED != 0 {
            Some(nl::NLMSG_HDRLEN)
        } else {
            rest.get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(|b| (u32::from_ne_bytes(b) as usize + 3) & !3)
        };
        if let Some(tlvs) = request_len.and_then(|n| rest.get(n..)) {
            if let Ok(attrs) = Attrs::parse(tlvs) {
                text = attrs
                    .string(nl::NLMSGERR_ATTR_MSG, "ext ack")
                    .ok()
                    .flatten();
            }
        }
    }
    match text {
        Some(t) if !t.is_empty() => DpifError::new(errno, format!("{} ({t})", strerror(errno))),
        _ => DpifError::new(errno, strerror(errno)),
    }
}

impl GenlSocket {
    pub fn new() -> Result<Self> {
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(|e| io_error("netlink socket", e))?;
        let addr = sock.bind_auto().map_err(|e| io_error("netlink bind", e))?;
        // Both are optional comforts (error text, short error replies);
        // kernels without them still work.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        Ok(GenlSocket {
            sock,
            pid: addr.port_number(),
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF_SIZE),
        })
    }

    /// The port id the kernel sends this socket's upcalls and replies to.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn add_membership(&self, group: u32) -> Result<()> {
        self.sock
            .add_membership(group)
            .map_err(|e| io_error("joining netlink multicast group", e))
    }

    pub fn set_non_blocking(&self, on: bool) -> Result<()> {
        self.sock
            .set_non_blocking(on)
            .map_err(|e| io_error("netlink socket mode", e))
    }

    /// Sends one request; returns its sequence number.
    pub fn send(&mut self, req: &Request, nl_flags: u16) -> Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | nl_flags | req.flags;
        header.sequence_number = self.seq;
        let body = GenlBody {
            cmd: req.cmd,
            version: req.version,
            bytes: req.body.clone(),
        };
        let genl = GenlMessage::new(
            GenlHeader {
                cmd: req.cmd,
                version: req.version,
            },
            body,
            req.family,
        );
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
        msg.finalize();
        let len = msg.buffer_len();
        if len > u32::MAX as usize {
            return Err(DpifError::new(libc::EMSGSIZE, "netlink request too large"));
        }
        let mut out = vec![0u8; len];
        msg.serialize(&mut out);
        let kernel = SocketAddr::new(0, 0);
        let sent = self
            .sock
            .send_to(&out, &kernel, 0)
            .map_err(|e| io_error("netlink send", e))?;
        if sent != len {
            return Err(DpifError::new(libc::EIO, "netlink send was cut short"));
        }
        Ok(self.seq)
    }

    /// Receives one datagram and splits it into messages. With a timeout,
    /// returns `Ok(None)` when nothing came in time.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Option<Vec<Received>>> {
        if let Some(t) = timeout {
            if !wait_readable(self.sock.as_raw_fd(), t)? {
                return Ok(None);
            }
        }
        self.buf.clear();
        let n = loop {
            match self.sock.recv(&mut self.buf, libc::MSG_TRUNC) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(io_error("netlink receive", e)),
            }
        };
        if n > self.buf.len() {
            return Err(DpifError::new(
                libc::EMSGSIZE,
                format!("netlink message of {n} bytes does not fit the receive buffer"),
            ));
        }
        parse_datagram(&self.buf).map(Some)
    }

    /// Sends a request that gets one reply (or none) and an ack.
    pub fn transact(&mut self, req: &Request) -> Result<Option<GenlBody>> {
        let seq = self.send(req, NLM_F_ACK)?;
        let mut reply = None;
        loop {
            let Some(msgs) = self.recv(None)? else {
                continue;
            };
            for m in msgs {
                match m {
                    // The first reply is the answer; a request gets one.
                    Received::Message { seq: s, body } if s == seq && reply.is_none() => {
                        reply = Some(body);
                    }
                    Received::Ack { seq: s, error } if s == seq => {
                        return match error {
                            Some(e) => Err(e),
                            None => Ok(reply),
                        };
                    }
                    Received::Done { seq: s, error } if s == seq => {
                        return match error {
                            Some(e) => Err(e),
                            None => Ok(reply),
                        };
                    }
                    // Someone else's: a stale reply or a notification.
                    _ => {}
                }
            }
        }
    }

    /// Sends several requests back to back and collects each one's reply
    /// and ack, in order: one result per request. Requests go out in
    /// groups small enough that their replies fit the socket's buffer.
    pub fn transact_batch(&mut self, reqs: &[Request]) -> Vec<Result<Option<GenlBody>>> {
        const GROUP: usize = 32;
        let mut results = Vec::with_capacity(reqs.len());
        for group in reqs.chunks(GROUP) {
            // Sequence number of each request sent, or its send error.
            let mut pending: Vec<Result<u32>> =
                group.iter().map(|r| self.send(r, NLM_F_ACK)).collect();
            let mut answers: Vec<Option<Result<Option<GenlBody>>>> = pending
                .iter_mut()
                .map(|p| match p {
                    Ok(_) => None,
                    Err(e) => Some(Err(e.clone())),
                })
                .collect();
            let mut replies: Vec<Option<GenlBody>> = vec![None; group.len()];
            let index_of = |pending: &[Result<u32>], seq: u32| {
                pending.iter().position(|p| matches!(p, Ok(s) if *s == seq))
            };
            while answers.iter().any(Option::is_none) {
                let msgs = match self.recv(None) {
                    Ok(Some(m)) => m,
                    Ok(None) => continue,
                    Err(e) => {
                        // The socket failed: every open request fails with it.
                        for a in answers.iter_mut().filter(|a| a.is_none()) {
                            *a = Some(Err(e.clone()));
                        }
                        break;
                    }
                };
                for m in msgs {
                    match m {
                        Received::Message { seq, body } => {
                            if let Some(i) = index_of(&pending, seq) {
                                replies[i].get_or_insert(body);
                            }
                        }
                        Received::Ack { seq, error } | Received::Done { seq, error } => {
                            if let Some(i) = index_of(&pending, seq) {
                                answers[i] = Some(match error {
                                    Some(e) => Err(e),
                                    None => Ok(replies[i].take()),
                                });
                            }
                        }
                    }
                }
            }
            results.extend(answers.into_iter().flatten());
        }
        results
    }

    /// Sends a dump request and collects every reply until NLMSG_DONE.
    pub fn dump(&mut self, req: &Request) -> Result<Vec<GenlBody>> {
        let seq = self.send(req, NLM_F_DUMP)?;
        let mut replies = Vec::new();
        loop {
            let Some(msgs) = self.recv(None)? else {
                continue;
            };
            for m in msgs {
                match m {
                    Received::Message { seq: s, body } if s == seq => replies.push(body),
                    Received::Done { seq: s, error } | Received::Ack { seq: s, error }
                        if s == seq =>
                    {
                        return match error {
                            Some(e) => Err(e),
                            None => Ok(replies),
                        };
                    }
                    _ => {}
                }
            }
        }
    }

    /// Looks up a generic netlink family (CTRL_CMD_GETFAMILY).
    pub fn resolve_family(&mut self, name: &str) -> Result<FamilyInfo> {
        let ctrl = GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(name.to_string())],
        };
        let mut body = vec![0u8; ctrl.buffer_len()];
        ctrl.emit(&mut body);
        let req = Request {
            family: ctrl.family_id(),
            cmd: ctrl.command(),
            version: ctrl.version(),
            flags: 0,
            body,
        };
        let reply = self.transact(&req)?.ok_or_else(|| {
            DpifError::new(libc::EPROTO, format!("no reply resolving family {name}"))
        })?;
        parse_family_reply(name, &reply)
    }
}

/// The answer to CTRL_CMD_GETFAMILY: the family's id and multicast groups.
/// Read with our own attribute walker rather than netlink-packet-generic's
/// `GenlCtrl`, whose nested-attribute parsing panics on a length field
/// under 4 (found by the `netlink_msg` fuzz target).
pub(super) fn parse_family_reply(name: &str, reply: &GenlBody) -> Result<FamilyInfo> {
    // linux/genetlink.h: CTRL_ATTR_FAMILY_ID, CTRL_ATTR_MCAST_GROUPS and,
    // inside each group, CTRL_ATTR_MCAST_GRP_NAME and _ID.
    const FAMILY_ID: u16 = 1;
    const MCAST_GROUPS: u16 = 7;
    const GRP_NAME: u16 = 1;
    const GRP_ID: u16 = 2;
    let bad = |e: DpifError| DpifError::new(libc::EPROTO, format!("family {name}: {e}"));
    let attrs = Attrs::parse(&reply.bytes).map_err(bad)?;
    let mut info = FamilyInfo {
        id: attrs.u16(FAMILY_ID, "family id").map_err(bad)?.unwrap_or(0),
        mcast_groups: Vec::new(),
    };
    if let Some(groups) = attrs.get(MCAST_GROUPS) {
        for (_, group) in Attrs::parse(groups).map_err(bad)?.iter() {
            let g = Attrs::parse(group).map_err(bad)?;
            let gname = g.string(GRP_NAME, "group name").map_err(bad)?;
            let gid = g.u32(GRP_ID, "group id").map_err(bad)?;
            if let (Some(n), Some(i)) = (gname, gid) {
                info.mcast_groups.push((n, i));
            }
        }
    }
    if info.id == 0 {
        return Err(DpifError::new(
            libc::EPROTO,
            format!("family {name} has no id"),
        ));
    }
    Ok(info)
}

/// [`parse_datagram`] for the hostile-input tests and the fuzz target.
pub(super) fn parse_datagram_for_tests(buf: &[u8]) -> Result<Vec<Received>> {
    parse_datagram(buf)
}

/// Splits a datagram into its netlink messages.
fn parse_datagram(buf: &[u8]) -> Result<Vec<Received>> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        let len = NetlinkBuffer::new_checked(rest)
            .map(|b| b.length() as usize)
            .map_err(|e| DpifError::new(libc::EPROTO, format!("bad netlink message: {e}")))?;
        if len < nl::NLMSG_HDRLEN || len > rest.len() {
            return Err(DpifError::new(libc::EPROTO, "bad netlink message length"));
        }
        let msg = NetlinkMessage::<GenlMessage<GenlBody>>::deserialize(&rest[..len])
            .map_err(|e| DpifError::new(libc::EPROTO, format!("bad netlink message: {e}")))?;
        let seq = msg.header.sequence_number;
        let flags = msg.header.flags;
        match msg.payload {
            NetlinkPayload::InnerMessage(genl) => out.push(Received::Message {
                seq,
                body: genl.payload,
            }),
            NetlinkPayload::Error(e) => out.push(Received::Ack {
                seq,
                error: match e.code {
                    None => None,
                    Some(code) => Some(kernel_error(flags, code.get(), &e.header)),
                },
            }),
            NetlinkPayload::Done(d) => out.push(Received::Done {
                seq,
                error: (d.code != 0).then(|| kernel_error(flags, d.code, &[])),
            }),
            // NOOP and OVERRUN carry nothing for us.
            _ => {}
        }
        offset += (len + 3) & !3;
    }
    Ok(out)
}

/// Waits until `fd` is readable or `timeout` passes; true if readable.
fn wait_readable(fd: RawFd, timeout: Duration) -> Result<bool> {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new().map_err(|e| io_error("poll", e))?;
    poll.registry()
        .register(&mut SourceFd(&fd), Token(0), Interest::READABLE)
        .map_err(|e| io_error("poll register", e))?;
    let mut events = Events::with_capacity(1);
    loop {
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => return Ok(!events.is_empty()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error("poll", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_with_ext_ack_text() {
        // Capped error: request header (16 bytes), then NLMSGERR_ATTR_MSG.
        let mut rest = vec![0u8; 16];
        let text = b"Flow key attribute not present in new flow.\0";
        let len = (4 + text.len()) as u16;
        rest.extend_from_slice(&len.to_ne_bytes());
        rest.extend_from_slice(&nl::NLMSGERR_ATTR_MSG.to_ne_bytes());
        rest.extend_from_slice(text);
        let e = kernel_error(nl::NLM_F_CAPPED | nl::NLM_F_ACK_TLVS, -libc::EINVAL, &rest);
        assert_eq!(e.errno, libc::EINVAL);
        assert_eq!(
            e.message,
            "Invalid argument (Flow key attribute not present in new flow.)"
        );
        // Without TLVs: only the errno's text.
        let e = kernel_error(nl::NLM_F_CAPPED, -libc::EEXIST, &rest);
        assert_eq!(e.message, "File exists");
    }

    #[test]
    fn hostile_datagrams_give_errors() {
        assert!(parse_datagram(&[1, 2, 3]).is_err());
        // Length field larger than the datagram.
        let mut m = vec![0u8; 16];
        m[0] = 200;
        assert!(parse_datagram(&m).is_err());
        // Garbage error payload after a valid header.
        let mut m = vec![0u8; 20];
        m[0] = 20;
        m[4] = 2; // NLMSG_ERROR
        m[16..20].copy_from_slice(&(-5i32).to_ne_bytes());
        let r = parse_datagram(&m).unwrap();
        assert!(matches!(&r[..], [Received::Ack { error: Some(e), .. }] if e.errno == 5));
    }
}
