//! Connection plumbing for OpenFlow: the connection targets of the
//! Controller table (`tcp:`, `unix:`, `ptcp:`, `punix:`) and one stream /
//! listener type over TCP and Unix sockets for the event loop.

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The default OpenFlow port.
pub const OFP_PORT: u16 = 6653;

/// Where an OpenFlow connection goes or comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `tcp:IP[:PORT]`: connect to a controller.
    Tcp(SocketAddr),
    /// `unix:PATH`: connect to a controller's Unix socket.
    Unix(PathBuf),
    /// `ptcp:[PORT][:IP]`: listen for controllers.
    PTcp(SocketAddr),
    /// `punix:PATH`: listen on a Unix socket.
    PUnix(PathBuf),
}

impl Target {
    /// Parses a target as ovs-vsctl set-controller accepts it (ssl and
    /// pssl are not supported yet).
    pub fn parse(s: &str) -> Result<Target, String> {
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("{s}: missing connection type"))?;
        match kind {
            "tcp" => Ok(Target::Tcp(parse_host_port(rest, s)?)),
            "unix" if !rest.is_empty() => Ok(Target::Unix(PathBuf::from(rest))),
            "punix" if !rest.is_empty() => Ok(Target::PUnix(PathBuf::from(rest))),
            "ptcp" => {
                // ptcp:[PORT][:IP]
                let (port, ip) = match rest.split_once(':') {
                    Some((p, ip)) => (p, ip.trim_start_matches('[').trim_end_matches(']')),
                    None => (rest, "0.0.0.0"),
                };
                let port = if port.is_empty() {
                    OFP_PORT
                } else {
                    port.parse().map_err(|_| format!("{s}: bad port"))?
                };
                let ip: IpAddr = ip.parse().map_err(|_| format!("{s}: bad address"))?;
                Ok(Target::PTcp(SocketAddr::new(ip, port)))
            }
            "ssl" | "pssl" => Err(format!("{s}: SSL connections are not supported")),
            _ => Err(format!("{s}: unknown connection type")),
        }
    }

    pub fn is_passive(&self) -> bool {
        matches!(self, Target::PTcp(_) | Target::PUnix(_))
    }
}

/// `IP[:PORT]`, IPv6 in brackets.
fn parse_host_port(rest: &str, whole: &str) -> Result<SocketAddr, String> {
    let bad = || format!("{whole}: bad address");
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r.split_once(']').ok_or_else(bad)?;
        (h, p.strip_prefix(':').unwrap_or(""))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (rest, ""),
        }
    };
    let ip: IpAddr = host.parse().map_err(|_| bad())?;
    let port = if port.is_empty() {
        OFP_PORT
    } else {
        port.parse().map_err(|_| bad())?
    };
    Ok(SocketAddr::new(ip, port))
}

/// A connected (or connecting) OpenFlow byte stream.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Starts a non-blocking connection to an active target.
    pub fn connect(t: &Target) -> io::Result<Stream> {
        match t {
            Target::Tcp(a) => Ok(Stream::Tcp(TcpStream::connect(*a)?)),
            Target::Unix(p) => Ok(Stream::Unix(UnixStream::connect(p)?)),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "passive target",
            )),
        }
    }

    /// A pending connection error (a refused connect shows up here).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
        }
    }
}

/// A listening socket.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Binds a passive target (replacing a stale Unix socket file).
    pub fn bind(t: &Target) -> io::Result<Listener> {
        match t {
            Target::PTcp(a) => Ok(Listener::Tcp(TcpListener::bind(*a)?)),
            Target::PUnix(p) => {
                let _ = std::fs::remove_file(p);
                Ok(Listener::Unix(UnixListener::bind(p)?, p.clone()))
            }
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "active target")),
        }
    }

    pub fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
            Listener::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
        }
    }

    /// Removes a Unix socket's file.
    pub fn unlink(&self) {
        if let Listener::Unix(_, p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Source for Listener {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(r, t, i),
            Listener::Unix(l, _) => l.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(r, t, i),
            Listener::Unix(l, _) => l.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(r),
            Listener::Unix(l, _) => l.deregister(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_controller_targets() {
        assert_eq!(
            Target::parse("tcp:127.0.0.1:6633"),
            Ok(Target::Tcp("127.0.0.1:6633".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("tcp:10.0.0.1"),
            Ok(Target::Tcp("10.0.0.1:6653".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("tcp:[::1]:99"),
            Ok(Target::Tcp("[::1]:99".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("ptcp:"),
            Ok(Target::PTcp("0.0.0.0:6653".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("ptcp:6634:127.0.0.1"),
            Ok(Target::PTcp("127.0.0.1:6634".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("punix:/tmp/x"),
            Ok(Target::PUnix("/tmp/x".into()))
        );
        assert!(Target::parse("ssl:1.2.3.4:6653").is_err());
        assert!(Target::parse("tcp:nohost").is_err());
        assert!(Target::parse("bogus").is_err());
    }
}
