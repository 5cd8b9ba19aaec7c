//! JSON-RPC 1.0 over stream sockets, as OVSDB (RFC 7047) and unixctl use
//! it: JSON objects back to back on a byte stream, no framing.
//!
//! Everything received is untrusted: a syntax error, a message that is not
//! a JSON-RPC object, or more than `max_buffered` bytes without a complete
//! message is reported as an error; the caller closes the connection.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::Path;

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use serde_json::{json, Value};

/// A JSON-RPC message (see RFC 7047 section 4).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request {
        method: String,
        params: Value,
        id: Value,
    },
    Notify {
        method: String,
        params: Value,
    },
    Reply {
        result: Value,
        id: Value,
    },
    Error {
        error: Value,
        id: Value,
    },
}

impl Message {
    /// Interprets a JSON value as a JSON-RPC message.
    pub fn from_json(v: Value) -> Result<Message, String> {
        let Value::Object(mut o) = v else {
            return Err("message is not a JSON object".into());
        };
        let id = o.remove("id");
        let method = o.remove("method");
        let params = o.remove("params");
        let result = o.remove("result");
        let error = o.remove("error");
        match (method, id) {
            (Some(Value::String(method)), id) => {
                let params = params.unwrap_or(Value::Null);
                if !params.is_array() {
                    return Err(format!("\"params\" of \"{method}\" is not an array"));
                }
                match id {
                    None | Some(Value::Null) => Ok(Message::Notify { method, params }),
                    Some(id) => Ok(Message::Request { method, params, id }),
                }
            }
            (Some(_), _) => Err("\"method\" is not a string".into()),
            (None, Some(id)) => match (result, error) {
                (_, Some(e)) if !e.is_null() => Ok(Message::Error { error: e, id }),
                (Some(r), _) => Ok(Message::Reply { result: r, id }),
                _ => Err("reply has neither \"result\" nor \"error\"".into()),
            },
            (None, None) => Err("message has neither \"method\" nor \"id\"".into()),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Message::Request { method, params, id } => {
                json!({"method": method, "params": params, "id": id})
            }
            Message::Notify { method, params } => {
                json!({"method": method, "params": params, "id": Value::Null})
            }
            Message::Reply { result, id } => {
                json!({"result": result, "error": Value::Null, "id": id})
            }
            Message::Error { error, id } => {
                json!({"result": Value::Null, "error": error, "id": id})
            }
        }
    }
}

/// A stream socket of either family.
#[derive(Debug)]
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    /// Starts connecting to an OVS-style target: `unix:PATH` or
    /// `tcp:HOST:PORT` (HOST an IP address; IPv6 in brackets).
    pub fn connect(target: &str) -> io::Result<Stream> {
        if let Some(path) = target.strip_prefix("unix:") {
            return UnixStream::connect(Path::new(path)).map(Stream::Unix);
        }
        if let Some(hp) = target.strip_prefix("tcp:") {
            let addr = parse_tcp_addr(hp).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{target}: bad address"),
                )
            })?;
            return TcpStream::connect(addr).map(Stream::Tcp);
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{target}: unknown connection method (use unix: or tcp:)"),
        ))
    }

    /// The error of a finished non-blocking connect, if it failed.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Unix(s) => s.take_error(),
            Stream::Tcp(s) => s.take_error(),
        }
    }
}

fn parse_tcp_addr(hp: &str) -> Option<SocketAddr> {
    if let Ok(a) = hp.parse::<SocketAddr>() {
        return Some(a);
    }
    // OVS writes IPv6 as [addr]:port and allows a bare address with the
    // default OVSDB port.
    let (host, port) = hp.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    format!("{host}:{port}").parse().ok().or_else(|| {
        let ip: std::net::IpAddr = host.parse().ok()?;
        Some(SocketAddr::new(ip, port.parse().ok()?))
    })
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.register(r, t, i),
            Stream::Tcp(s) => s.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.reregister(r, t, i),
            Stream::Tcp(s) => s.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.deregister(r),
            Stream::Tcp(s) => s.deregister(r),
        }
    }
}

/// What reading from a connection produced.
#[derive(Debug, Default)]
pub struct Received {
    pub messages: Vec<Message>,
    /// Set when the peer closed the stream or broke the protocol; the
    /// connection is unusable afterwards.
    pub closed: Option<String>,
}

/// One JSON-RPC connection with its buffers.
#[derive(Debug)]
pub struct Connection {
    pub stream: Stream,
    rx: Vec<u8>,
    tx: Vec<u8>,
    max_buffered: usize,
}

impl Connection {
    pub fn new(stream: Stream, max_buffered: usize) -> Connection {
        Connection {
            stream,
            rx: Vec::new(),
            tx: Vec::new(),
            max_buffered,
        }
    }

    /// Reads all that is available and returns the complete messages.
    pub fn receive(&mut self) -> Received {
        let mut out = Received::default();
        let mut buf = [0u8; 65536];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    out.closed = Some("connection closed by peer".into());
                    break;
                }
                Ok(n) => {
                    self.rx.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                    if let Err(e) = self.parse(&mut out.messages) {
                        out.closed = Some(e);
                        return out;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    out.closed = Some(e.to_string());
                    break;
                }
            }
        }
        if out.closed.is_none() {
            if let Err(e) = self.parse(&mut out.messages) {
                out.closed = Some(e);
            }
        }
        out
    }

    /// Takes the complete JSON values off the front of the receive buffer.
    fn parse(&mut self, out: &mut Vec<Message>) -> Result<(), String> {
        let mut consumed = 0;
        let mut result = Ok(());
        {
            let mut it = serde_json::Deserializer::from_slice(&self.rx).into_iter::<Value>();
            loop {
                match it.next() {
                    None => {
                        consumed = it.byte_offset();
                        break;
                    }
                    Some(Ok(v)) => {
                        consumed = it.byte_offset();
                        match Message::from_json(v) {
                            Ok(m) => out.push(m),
                            Err(e) => {
                                result = Err(format!("received bad JSON-RPC message: {e}"));
                                break;
                            }
                        }
                    }
                    Some(Err(e)) if e.is_eof() => break,
                    Some(Err(e)) => {
                        result = Err(format!("syntax error in received JSON: {e}"));
                        break;
                    }
                }
            }
        }
        self.rx.drain(..consumed.min(self.rx.len()));
        result?;
        if self.rx.len() > self.max_buffered {
            return Err(format!(
                "received message larger than {} bytes",
                self.max_buffered
            ));
        }
        Ok(())
    }

    /// Queues a message and tries to send it.
    pub fn send(&mut self, msg: &Message) -> io::Result<()> {
        let text = msg.to_json().to_string();
        self.tx.extend_from_slice(text.as_bytes());
        self.flush()
    }

    /// Writes as much of the queue as the socket takes.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.tx.is_empty() {
            match self.stream.write(&self.tx) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.tx.drain(..n.min(self.tx.len()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether output is waiting for the socket to become writable.
    pub fn wants_write(&self) -> bool {
        !self.tx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(max: usize) -> (Connection, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (
            Connection::new(Stream::Unix(UnixStream::from_std(a)), max),
            b,
        )
    }

    #[test]
    fn splits_back_to_back_messages_and_waits_for_partial_ones() {
        let (mut c, mut peer) = pair(1 << 20);
        peer.write_all(br#"{"method":"echo","params":[],"id":1} {"id":1,"result":[],"error":null}{"method":"upd"#).unwrap();
        let r = c.receive();
        assert!(r.closed.is_none());
        assert_eq!(r.messages.len(), 2);
        assert!(matches!(&r.messages[0], Message::Request { method, .. } if method == "echo"));
        assert!(matches!(&r.messages[1], Message::Reply { .. }));
        peer.write_all(br#"ate","params":[1],"id":null}"#).unwrap();
        let r = c.receive();
        assert!(matches!(&r.messages[..], [Message::Notify { method, .. }] if method == "update"));
    }

    #[test]
    fn reports_garbage_and_oversized_input() {
        let (mut c, mut peer) = pair(1 << 20);
        peer.write_all(b"}{garbage").unwrap();
        assert!(c.receive().closed.unwrap().contains("syntax error"));
        let (mut c, mut peer) = pair(16);
        peer.write_all(b"{\"method\":\"aaaaaaaaaaaaaaaaaaaaaaaa")
            .unwrap();
        assert!(c.receive().closed.unwrap().contains("larger than"));
        let (mut c, mut peer) = pair(1 << 20);
        peer.write_all(b"[1,2]").unwrap();
        assert!(c.receive().closed.unwrap().contains("not a JSON object"));
        let (mut c, mut peer) = pair(1 << 20);
        peer.write_all(&b"[".repeat(100_000)).unwrap();
        assert!(c.receive().closed.is_some());
        drop(peer);
    }

    #[test]
    fn parses_targets() {
        assert_eq!(
            parse_tcp_addr("127.0.0.1:6640"),
            Some("127.0.0.1:6640".parse().unwrap())
        );
        assert_eq!(
            parse_tcp_addr("[::1]:6640"),
            Some("[::1]:6640".parse().unwrap())
        );
        assert!(parse_tcp_addr("nohost").is_none());
        assert!(Stream::connect("ssl:1.2.3.4:5").is_err());
    }
}
