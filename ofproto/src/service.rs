//! The OpenFlow service: one thread running a mio event loop that serves
//! each bridge's `punix:` management socket, and the small API the daemon
//! drives it with.

use crate::openflow::error_table::OfpErr;
use crate::switch::{
    error_msg, hello, hello_versions, ConnState, Header, PortInfo, PortStatsSource, Switch,
};
use mio::net::{UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// OpenFlow 1.0 to 1.5 as a version bitmap (bit n = wire version n).
pub const ALL_VERSIONS: u32 = 0b111_1110;

/// How the daemon describes a bridge to the service.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub name: String,
    pub datapath_id: u64,
    /// Where to listen, normally `<rundir>/<bridge>.mgmt`.
    pub mgmt_path: PathBuf,
    /// Allowed OpenFlow versions as a bitmap (bit n = wire version n);
    /// see [`versions_from_protocols`].
    pub versions: u32,
    /// Install `priority=0,actions=NORMAL` (no controller, fail-mode
    /// standalone), as stock does.
    pub normal_flow: bool,
}

/// Converts the Bridge `protocols` column (e.g. `["OpenFlow10",
/// "OpenFlow13"]`) to a version bitmap; empty means OpenFlow 1.0 to 1.5.
pub fn versions_from_protocols(protocols: &[String]) -> u32 {
    let mut bm = 0;
    for p in protocols {
        if let Some(n) = p
            .strip_prefix("OpenFlow1")
            .and_then(|d| d.parse::<u32>().ok())
        {
            if n <= 5 {
                bm |= 1 << (n + 1);
            }
        }
    }
    if bm == 0 {
        ALL_VERSIONS
    } else {
        bm
    }
}

enum Cmd {
    AddBridge(BridgeConfig, Sender<io::Result<()>>),
    RemoveBridge(String),
    SetPorts(String, Vec<PortInfo>),
    SetPortStats(String, PortStatsSource),
    DumpFlows(String, Sender<Option<String>>),
    ListBridges(Sender<Vec<String>>),
    Shutdown,
}

/// Handle to the running service. Dropping it shuts the service down.
pub struct OfprotoService {
    tx: Sender<Cmd>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

const WAKER: Token = Token(0);

impl OfprotoService {
    /// Starts the service thread.
    pub fn start() -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("ofproto".into())
            .spawn(move || EventLoop::new(poll, rx).run())?;
        Ok(OfprotoService {
            tx,
            waker,
            thread: Some(thread),
        })
    }

    fn send(&self, c: Cmd) {
        if self.tx.send(c).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Adds a bridge and starts listening on its management socket
    /// (replacing a stale socket file).
    pub fn add_bridge(&self, cfg: BridgeConfig) -> io::Result<()> {
        let (tx, rx) = channel();
        self.send(Cmd::AddBridge(cfg, tx));
        rx.recv()
            .unwrap_or_else(|_| Err(io::Error::other("ofproto service stopped")))
    }

    /// Removes a bridge, closing its connections and socket.
    pub fn remove_bridge(&self, name: &str) {
        self.send(Cmd::RemoveBridge(name.to_string()));
    }

    /// Replaces the bridge's port list.
    pub fn set_ports(&self, bridge: &str, ports: Vec<PortInfo>) {
        self.send(Cmd::SetPorts(bridge.to_string(), ports));
    }

    /// Sets where the bridge's port counters come from (port statistics
    /// requests call it on the service thread).
    pub fn set_port_stats_source(&self, bridge: &str, source: PortStatsSource) {
        self.send(Cmd::SetPortStats(bridge.to_string(), source));
    }

    /// The bridge's flows as text, or `None` for an unknown bridge.
    pub fn dump_flows(&self, bridge: &str) -> Option<String> {
        let (tx, rx) = channel();
        self.send(Cmd::DumpFlows(bridge.to_string(), tx));
        rx.recv().ok().flatten()
    }

    /// Names of the bridges, sorted (for ofproto/list).
    pub fn list_bridges(&self) -> Vec<String> {
        let (tx, rx) = channel();
        self.send(Cmd::ListBridges(tx));
        rx.recv().unwrap_or_default()
    }

    /// Stops the service thread and closes every socket.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.send(Cmd::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for OfprotoService {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Bridge {
    switch: Switch,
    cfg: BridgeConfig,
    listener: Token,
}

enum Phase {
    /// Waiting for the peer's HELLO.
    Hello,
    Connected(ConnState),
    /// Sent a final error; close once it is written.
    Closing,
}

struct Conn {
    stream: UnixStream,
    bridge: String,
    rx: Vec<u8>,
    tx: Vec<u8>,
    phase: Phase,
}

enum Entry {
    Listener(UnixListener, String),
    Conn(Conn),
}

struct EventLoop {
    poll: Poll,
    rx: Receiver<Cmd>,
    bridges: HashMap<String, Bridge>,
    entries: HashMap<Token, Entry>,
    next_token: usize,
}

impl EventLoop {
    fn new(poll: Poll, rx: Receiver<Cmd>) -> Self {
        EventLoop {
            poll,
            rx,
            bridges: HashMap::new(),
            entries: HashMap::new(),
            next_token: 1,
        }
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            // Rule timeouts are in seconds; checking a few times a second
            // keeps expiry within stock's granularity.
            let timeout = self
                .bridges
                .values()
                .any(|b| b.switch.has_timeouts())
                .then(|| std::time::Duration::from_millis(250));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("ofproto: poll failed: {e}");
                return;
            }
            for ev in events.iter() {
                let t = ev.token();
                if t == WAKER {
                    continue;
                }
                self.ready(t);
            }
            let now = std::time::Instant::now();
            for b in self.bridges.values_mut() {
                b.switch.expire(now);
            }
            while let Ok(cmd) = self.rx.try_recv() {
                if !self.command(cmd) {
                    self.close_all();
                    return;
                }
            }
        }
    }

    fn close_all(&mut self) {
        let names: Vec<String> = self.bridges.keys().cloned().collect();
        for n in names {
            self.remove_bridge(&n);
        }
    }

    fn command(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::AddBridge(cfg, reply) => {
                let _ = reply.send(self.add_bridge(cfg));
            }
            Cmd::RemoveBridge(n) => self.remove_bridge(&n),
            Cmd::SetPorts(n, ports) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.set_ports(ports);
                }
            }
            Cmd::SetPortStats(n, source) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.port_stats = Some(source);
                }
            }
            Cmd::DumpFlows(n, reply) => {
                let _ = reply.send(self.bridges.get(&n).map(|b| b.switch.dump_flows_text()));
            }
            Cmd::ListBridges(reply) => {
                let mut v: Vec<String> = self.bridges.keys().cloned().collect();
                v.sort();
                let _ = reply.send(v);
            }
            Cmd::Shutdown => return false,
        }
        true
    }

    fn add_bridge(&mut self, cfg: BridgeConfig) -> io::Result<()> {
        if self.bridges.contains_key(&cfg.name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "bridge exists",
            ));
        }
        let _ = std::fs::remove_file(&cfg.mgmt_path);
        let mut l = UnixListener::bind(&cfg.mgmt_path)?;
        let t = self.token();
        self.poll
            .registry()
            .register(&mut l, t, Interest::READABLE)?;
        self.entries.insert(t, Entry::Listener(l, cfg.name.clone()));
        let mut switch = Switch::new(&cfg.name, cfg.datapath_id);
        if cfg.normal_flow {
            switch.add_normal_flow();
        }
        self.bridges.insert(
            cfg.name.clone(),
            Bridge {
                switch,
                cfg,
                listener: t,
            },
        );
        Ok(())
    }

    fn remove_bridge(&mut self, name: &str) {
        let Some(b) = self.bridges.remove(name) else {
            return;
        };
        let conns: Vec<Token> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Conn(c) if c.bridge == name))
            .map(|(t, _)| *t)
            .collect();
        for t in conns.into_iter().chain(std::iter::once(b.listener)) {
            if let Some(e) = self.entries.remove(&t) {
                match e {
                    Entry::Listener(mut l, _) => {
                        let _ = self.poll.registry().deregister(&mut l);
                    }
                    Entry::Conn(mut c) => {
                        let _ = self.poll.registry().deregister(&mut c.stream);
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&b.cfg.mgmt_path);
    }

    fn ready(&mut self, t: Token) {
        let is_listener = match self.entries.get(&t) {
            Some(Entry::Listener(..)) => true,
            Some(Entry::Conn(_)) => false,
            None => return,
        };
        if is_listener {
            self.accept(t);
        } else if !self.service_conn(t) {
            if let Some(Entry::Conn(mut c)) = self.entries.remove(&t) {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
        }
    }

    fn accept(&mut self, lt: Token) {
        loop {
            let (res, bridge) = match self.entries.get(&lt) {
                Some(Entry::Listener(l, b)) => (l.accept(), b.clone()),
                _ => return,
            };
            let mut stream = match res {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("ofproto: accept on {bridge} failed: {e}");
                    return;
                }
            };
            let versions = self
                .bridges
                .get(&bridge)
                .map_or(ALL_VERSIONS, |b| b.cfg.versions);
            let t = self.token();
            if self
                .poll
                .registry()
                .register(&mut stream, t, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            let conn = Conn {
                stream,
                bridge,
                rx: Vec::new(),
                tx: hello(versions),
                phase: Phase::Hello,
            };
            self.entries.insert(t, Entry::Conn(conn));
            if !self.service_conn(t) {
                if let Some(Entry::Conn(mut c)) = self.entries.remove(&t) {
                    let _ = self.poll.registry().deregister(&mut c.stream);
                }
            }
        }
    }

    /// Reads, handles and writes what a connection has; false to close it.
    fn service_conn(&mut self, t: Token) -> bool {
        let Some(Entry::Conn(c)) = self.entries.get_mut(&t) else {
            return false;
        };
        let mut eof = false;
        let mut buf = [0u8; 65536];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => c.rx.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        // Handle every complete message.
        loop {
            if matches!(c.phase, Phase::Closing) {
                c.rx.clear();
                break;
            }
            if c.rx.len() < 8 {
                break;
            }
            let len = u16::from_be_bytes([c.rx[2], c.rx[3]]) as usize;
            if len < 8 {
                // A length shorter than the header: stock drops the
                // connection.
                return false;
            }
            if c.rx.len() < len {
                break;
            }
            let msg: Vec<u8> = c.rx.drain(..len).collect();
            let Some(bridge) = self.bridges.get_mut(&c.bridge) else {
                return false;
            };
            let versions = bridge.cfg.versions;
            match &mut c.phase {
                Phase::Hello => {
                    if msg[1] != 0 {
                        return false;
                    }
                    let peer = hello_versions(&msg);
                    let common = peer & versions;
                    if common == 0 {
                        let v = (1..=6u8).rev().find(|v| peer & (1 << v) != 0).unwrap_or(1);
                        let text = format!(
                            "We support {}, you support {}, no common versions.",
                            versions_string(versions),
                            versions_string(peer)
                        );
                        c.tx.extend_from_slice(&hello_failed(v, &text));
                        c.phase = Phase::Closing;
                    } else {
                        let v = (1..=6u8)
                            .rev()
                            .find(|v| common & (1 << v) != 0)
                            .unwrap_or(1);
                        c.phase = Phase::Connected(ConnState::new(v));
                    }
                }
                Phase::Connected(st) => {
                    let Some(h) = Header::parse(&msg) else {
                        return false;
                    };
                    if h.version != st.version && !(known_version(h.version) && h.msg_type <= 3) {
                        c.tx.extend_from_slice(&error_msg(
                            OfpErr::OFPBRC_BAD_VERSION,
                            h.version,
                            h.xid,
                            &msg,
                        ));
                        continue;
                    }
                    for r in bridge.switch.handle(st, &msg) {
                        c.tx.extend_from_slice(&r);
                    }
                }
                Phase::Closing => {}
            }
        }
        // Write what is pending.
        while !c.tx.is_empty() {
            match c.stream.write(&c.tx) {
                Ok(0) => return false,
                Ok(n) => {
                    c.tx.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        if matches!(c.phase, Phase::Closing) && c.tx.is_empty() {
            return false;
        }
        !eof || !c.tx.is_empty()
    }
}

fn known_version(v: u8) -> bool {
    (1..=6).contains(&v)
}

/// A version bitmap as stock's negotiation failure message words it.
fn versions_string(bm: u32) -> String {
    if bm == 0 {
        return "no versions".into();
    }
    let top = 31 - bm.leading_zeros();
    if bm.is_power_of_two() {
        format!("version 0x{top:02x}")
    } else if ((bm >> 1) + 1).is_power_of_two() {
        format!("version 0x{top:02x} and earlier")
    } else {
        let vs: Vec<String> = (0..32u32)
            .filter(|v| bm & (1 << v) != 0)
            .map(|v| format!("0x{v:02x}"))
            .collect();
        format!("versions {}", vs.join(", "))
    }
}

/// OFPET_HELLO_FAILED / OFPHFC_INCOMPATIBLE with an explanation.
fn hello_failed(version: u8, text: &str) -> Vec<u8> {
    let mut m = crate::switch::start(version, 1, 0);
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(text.as_bytes());
    crate::switch::finish(m)
}
