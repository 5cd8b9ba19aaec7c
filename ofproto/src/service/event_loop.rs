//! The service thread: one mio event loop over the bridges' management
//! and snoop sockets and their OpenFlow connections (management, passive
//! and active controllers, snoopers), with timers for rule timeouts,
//! inactivity probes and reconnection.

use super::*;
use crate::service::changes::Scope;
use crate::service::reply_poll::{ReplyPoll, FOLLOW_UP_BUSY};

/// A configured controller.
struct Controller {
    cfg: ControllerConfig,
    target: Target,
    /// The listener (passive) or the connection (active), when open.
    token: Option<Token>,
    backoff: Duration,
    next_attempt: Instant,
    last_error: Option<String>,
    connected_at: Option<Instant>,
    disconnected_at: Option<Instant>,
}

struct Bridge {
    /// Shared with the upcall handlers, which translate with it.
    switch: crate::switch::SharedSwitch,
    cfg: BridgeConfig,
    listener: Token,
    controllers: Vec<Controller>,
    fail_mode: FailMode,
    fail_open: super::fail_open::FailOpen,
    in_band: super::in_band::InBand,
}

enum Phase {
    /// Waiting for the peer's HELLO.
    Hello,
    Connected(ConnState),
    /// Sent a final error; close once it is written.
    Closing,
}

struct Conn {
    stream: Stream,
    bridge: String,
    /// The controller target this connection serves, or None for the
    /// management socket.
    controller: Option<String>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    /// How many leading bytes of `tx` are written already.
    tx_sent: usize,
    /// Whether the poll watches for room to write: only while `tx` has
    /// bytes the socket did not take. (Watching always would wake the
    /// loop each time the peer reads a reply.)
    watch_writable: bool,
    phase: Phase,
    last_rx: Instant,
    probe: Duration,
    probe_sent: Option<Instant>,
    /// For a snoop connection: the controller connection it copies.
    snooping: Option<Token>,
    /// How many leading bytes of `tx` were already copied to snoopers.
    copied: usize,
    /// Why the connection failed, for the controller's last_error.
    error: Option<String>,
}

enum Entry {
    Listener(Listener, String, Option<String>),
    /// `<bridge>.snoop`: connections here get a copy of an active
    /// controller connection's traffic (`ovs-ofctl snoop`).
    SnoopListener(Listener, String),
    Conn(Box<Conn>),
}

pub(crate) struct EventLoop {
    poll: Poll,
    rx: Receiver<Cmd>,
    bridges: HashMap<String, Bridge>,
    entries: HashMap<Token, Entry>,
    next_token: usize,
    /// Bumped after anything that may change a table (see
    /// `OfprotoService::tables_generation`).
    tables_generation: Arc<crate::service::changes::Changes>,
    /// What the handlers translate with: the switches and, per datapath
    /// type, the bridges' ports as translation sees them (patch peers,
    /// tunnels, endpoint addresses).
    shared: Arc<super::direct::Shared>,
    /// Where connections read into: allocated (and zeroed) once, not per
    /// wakeup.
    read_buf: Box<[u8]>,
    /// When the timed work (`tick`) is due next.
    next_tick: Instant,
    /// Polling without sleeping right after serving a request.
    reply_poll: ReplyPoll,
    /// Whether this pass of the loop handled a request from a peer (set
    /// by `service_conn`).
    served: bool,
    /// Connections whose held-back requests may go on: a flush outside
    /// their own servicing (timers, async messages) drained their
    /// replies, and no socket event will come to say so.
    resume: Vec<Token>,
}

/// What the poll said about a connection, beyond "something happened".
#[derive(Clone, Copy, Default)]
struct Readiness {
    /// The peer closed its side or the socket has an error: read to the
    /// end and look at the socket error.
    closed_or_error: bool,
}

const READ_CHUNK: usize = 64 << 10;
/// The most send buffer an idle connection keeps.
const MAX_IDLE_TX_CAPACITY: usize = 256 << 10;

impl EventLoop {
    pub(crate) fn new(
        poll: Poll,
        rx: Receiver<Cmd>,
        tables_generation: Arc<crate::service::changes::Changes>,
        shared: Arc<super::direct::Shared>,
    ) -> Self {
        EventLoop {
            poll,
            rx,
            bridges: HashMap::new(),
            entries: HashMap::new(),
            next_token: 1,
            tables_generation,
            shared,
            read_buf: vec![0; READ_CHUNK].into_boxed_slice(),
            next_tick: Instant::now(),
            reply_poll: ReplyPoll::from_env(),
            served: false,
            resume: Vec::new(),
        }
    }

    fn tables_changed(&self) {
        self.tables_generation
            .bump(crate::service::changes::Scope::All);
    }

    /// Ages the bridges' MAC tables; a change there (or in ports or their
    /// VLANs) may change what NORMAL translates to: a new generation.
    fn l2_run(&mut self) {
        for b in self.bridges.values_mut() {
            let stale = b.switch.write().l2_run();
            self.tables_generation.note_mac_changes(&stale);
        }
    }

    /// Adds `credits` to the rules of every bridge (patch ports make one
    /// flow's rules span bridges; each bridge takes its own). Read locks
    /// only: the counters are atomics (handlers translate meanwhile).
    fn credit(&self, credits: &[crate::xlate::upcall::Credit]) {
        if credits.is_empty() {
            return;
        }
        for b in self.bridges.values() {
            crate::xlate::upcall::credit_stats(&b.switch.read(), credits);
        }
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            // Right after serving a request, look without sleeping (see
            // `reply_poll`); otherwise sleep until timed work is due, if
            // any is.
            let polling = self.reply_poll.is_pending();
            let wait = if polling || !self.resume.is_empty() {
                Some(Duration::ZERO)
            } else {
                let timed = self.bridges.values().any(|b| {
                    let sw = b.switch.read();
                    sw.has_timeouts() || !b.controllers.is_empty() || sw.has_macs()
                });
                timed.then(|| {
                    self.next_tick
                        .saturating_duration_since(Instant::now())
                        .min(TICK)
                })
            };
            if let Err(e) = self.poll.poll(&mut events, wait) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("ofproto: poll failed: {e}");
                return;
            }
            // When the look found something: whether it was a request is
            // known only once it is served (below).
            let mut found_at = None;
            if polling {
                if !events.is_empty() {
                    found_at = Some(Instant::now());
                } else if self.reply_poll.is_open(Instant::now()) {
                    // Let whatever else wants this CPU (perhaps the peer)
                    // run, then look again. Timed work waits for the
                    // window to close, a few tens of µs.
                    std::thread::yield_now();
                    continue;
                } else {
                    self.reply_poll.missed();
                    continue;
                }
            }
            self.served = false;
            for ev in events.iter() {
                let t = ev.token();
                if t != WAKER {
                    let closed_or_error =
                        ev.is_error() || ev.is_read_closed() || ev.is_write_closed();
                    self.ready(t, Readiness { closed_or_error });
                }
            }
            // An event that served nothing (the edge of bytes an earlier
            // read already took, such as a barrier read while waiting for
            // it) leaves the window as it was: polling goes on.
            if let Some(at) = found_at.filter(|_| self.served) {
                self.reply_poll.found(at);
            }
            if self.served {
                self.reply_poll.served(Instant::now());
            }
            while let Ok(cmd) = self.rx.try_recv() {
                let more = self.command(cmd);
                self.l2_run();
                if !more {
                    self.close_all();
                    return;
                }
            }
            // MAC entries age out; port and VLAN changes count.
            self.l2_run();
            for t in std::mem::take(&mut self.resume) {
                if self.held_back(t) {
                    self.ready(
                        t,
                        Readiness {
                            closed_or_error: false,
                        },
                    );
                }
            }
            // Timed work at its own pace, not after every message: a peer
            // streaming flow_mods wakes the loop once per message. What a
            // command left for the connections goes out at once.
            let now = Instant::now();
            if now >= self.next_tick {
                self.tick(now);
                self.next_tick = now + TICK;
            } else if self.bridges.values().any(|b| b.switch.read().has_async()) {
                let names: Vec<String> = self.bridges.keys().cloned().collect();
                for n in &names {
                    self.deliver_async(n);
                }
            }
        }
    }

    /// Timed work: rule expiry, controller reconnection and probes.
    fn tick(&mut self, now: Instant) {
        let names: Vec<String> = self.bridges.keys().cloned().collect();
        for n in &names {
            let mut expired = false;
            if let Some(b) = self.bridges.get_mut(n) {
                let mut sw = b.switch.write();
                sw.expire(now);
                expired = !sw.removed.is_empty();
            }
            if expired {
                self.tables_changed();
            }
            self.deliver_async(n);
            self.reconnect(n, now);
            if let Some(b) = self.bridges.get_mut(n) {
                let out = b.fail_open.run(&b.switch, now);
                if b.in_band.run(&b.switch, now) | out.tables_changed {
                    self.tables_changed();
                }
                if let Some(pi) = out.bogus_packet_in {
                    self.packet_in(n, &pi);
                }
            }
        }
        let probes: Vec<Token> = self
            .entries
            .iter()
            .filter_map(|(t, e)| match e {
                Entry::Conn(c) if c.probe > Duration::ZERO => Some(*t),
                _ => None,
            })
            .collect();
        for t in probes {
            let mut dead = false;
            if let Some(Entry::Conn(c)) = self.entries.get_mut(&t) {
                match c.probe_sent {
                    Some(at) if now.duration_since(at) >= c.probe => dead = true,
                    None if now.duration_since(c.last_rx) >= c.probe => {
                        if let Phase::Connected(st) = &c.phase {
                            let mut m = crate::switch::start(st.version, 2, 0);
                            m.extend_from_slice(&[]);
                            c.tx.extend_from_slice(&crate::switch::finish(m));
                            c.probe_sent = Some(now);
                        } else {
                            dead = true;
                        }
                    }
                    _ => {}
                }
            }
            if dead {
                self.close_conn(t, Some("inactivity probe timeout".into()));
            } else if !self.flush(t) {
                self.close_conn(t, None);
            }
        }
    }

    /// Closes the bridge's connections to active controllers (stock's
    /// `rconn_reconnect`): each connects again once its backoff passes.
    fn reconnect_controllers(&mut self, bridge: &str) {
        let Some(b) = self.bridges.get(bridge) else {
            return;
        };
        let open: Vec<(Token, String)> = b
            .controllers
            .iter()
            .filter(|c| !c.target.is_passive())
            .filter_map(|c| Some((c.token?, c.cfg.target.to_string())))
            .collect();
        for (t, target) in open {
            log::info!(target: "rconn", "{bridge}<->{target}: disconnecting");
            self.close_conn(t, None);
        }
    }

    /// Starts connections to active controllers whose backoff has passed.
    fn reconnect(&mut self, bridge: &str, now: Instant) {
        let Some(b) = self.bridges.get(bridge) else {
            return;
        };
        let due: Vec<usize> = b
            .controllers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.token.is_none() && !c.target.is_passive() && now >= c.next_attempt)
            .map(|(i, _)| i)
            .collect();
        for i in due {
            let t = self.token();
            let Some(b) = self.bridges.get_mut(bridge) else {
                return;
            };
            let versions = b.cfg.versions;
            let c = &mut b.controllers[i];
            match Stream::connect(&c.target) {
                Ok(mut stream) => {
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        t,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        c.last_error = Some(e.to_string());
                        c.next_attempt = now + c.backoff;
                        continue;
                    }
                    c.token = Some(t);
                    let conn = Conn {
                        stream,
                        bridge: bridge.to_string(),
                        controller: Some(c.cfg.target.clone()),
                        rx: Vec::new(),
                        tx: hello(versions),
                        tx_sent: 0,
                        watch_writable: true,
                        phase: Phase::Hello,
                        last_rx: now,
                        probe: c.cfg.inactivity_probe,
                        probe_sent: None,
                        snooping: None,
                        copied: 0,
                        error: None,
                    };
                    self.entries.insert(t, Entry::Conn(Box::new(conn)));
                }
                Err(e) => {
                    c.last_error = Some(e.to_string());
                    c.next_attempt = now + c.backoff;
                    c.backoff = (c.backoff * 2).min(c.cfg.max_backoff.max(Duration::from_secs(1)));
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
            Cmd::RemoveBridge(n, done) => {
                crate::xlate::meter::forget(&n);
                self.remove_bridge(&n);
                let _ = done.send(());
            }
            Cmd::SetPorts(n, ports) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().set_ports(ports);
                }
                // Outputs and floods depend on the ports.
                self.tables_changed();
                self.deliver_async(&n);
            }
            Cmd::UpdatePorts(n, upserts, removed) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().update_ports(upserts, &removed);
                }
                self.tables_changed();
                self.deliver_async(&n);
            }
            Cmd::SetPortStats(n, source) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().port_stats = Some(source);
                }
            }
            Cmd::SetPortModHook(n, hook) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().port_mod_hook = Some(hook);
                }
            }
            Cmd::SetInBandExtras(n, managers, queue) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.in_band.set_extras(managers, queue);
                }
            }
            Cmd::SetSnoop(n, path, reply) => {
                let _ = reply.send(self.set_snoop(&n, path));
            }
            Cmd::SetTableName(n, table, name) => {
                if let Some(b) = self.bridges.get(&n) {
                    if let Some(cfg) = b.switch.write().table_cfg.get_mut(table as usize) {
                        cfg.name = name;
                    }
                }
            }
            Cmd::SetVersions(n, versions) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.cfg.versions = versions;
                }
            }
            Cmd::SetDatapathId(n, dpid) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    let old = std::mem::replace(&mut b.switch.write().datapath_id, dpid);
                    // A controller cannot be told of a new datapath ID:
                    // it learns it by connecting again (as stock).
                    if old != dpid {
                        self.reconnect_controllers(&n);
                    }
                }
            }
            Cmd::ReconnectControllers(n) => {
                let names: Vec<String> = match n {
                    Some(n) => vec![n],
                    None => self.bridges.keys().cloned().collect(),
                };
                for n in names {
                    self.reconnect_controllers(&n);
                }
            }
            Cmd::SetPacketOutHook(n, hook) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().packet_out_hook = Some(hook);
                }
            }
            Cmd::SetCtFlushHook(n, hook) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().ct_flush_hook = Some(hook);
                }
            }
            Cmd::SetTableSettings(n, table, s) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().set_table_settings(table, s);
                    self.tables_changed();
                }
            }
            Cmd::SetResumeHook(n, hook) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().resume_hook = Some(hook);
                }
            }
            Cmd::PacketIn(n, pi) => self.packet_in(&n, &pi),
            Cmd::SetControllers(n, ctls, mode, reply) => {
                // The fail mode may add or remove the NORMAL flow.
                self.tables_changed();
                let _ = reply.send(self.set_controllers(&n, ctls, mode));
            }
            Cmd::ControllerStatus(n, reply) => {
                let _ = reply.send(self.controller_status(&n));
            }
            Cmd::DumpFlows(n, reply) => {
                let _ = reply.send(
                    self.bridges
                        .get(&n)
                        .map(|b| b.switch.read().dump_flows_text()),
                );
            }
            Cmd::Settle(done) => {
                let _ = done.send(());
            }
            Cmd::Translate(n, req, reply) => {
                let r = self.translate_upcall(&n, &req);
                // What translation learned is counted before the handler
                // installs the flow (which then is not installed).
                self.l2_run();
                let _ = reply.send(r);
            }
            Cmd::TranslateBatch(items, reply) => {
                let mut credits = Vec::new();
                let results: Vec<_> = items
                    .iter()
                    .map(|item| {
                        let r = self.translate_upcall(&item.bridge, &item.req);
                        credits.extend(crate::xlate::upcall::Credit::for_upcall(
                            &r,
                            item.packet_len,
                        ));
                        r
                    })
                    .collect();
                self.credit(&credits);
                self.l2_run();
                let _ = reply.send(results);
            }
            Cmd::SetPortVlans(n, vlans) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().set_port_vlans(vlans);
                }
            }
            Cmd::SetMirrors(n, mirrors, stats) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().set_mirrors(mirrors, stats);
                }
            }
            Cmd::SetMacConfig(n, cfg) => {
                if let Some(b) = self.bridges.get_mut(&n) {
                    b.switch.write().set_mac_config(&cfg);
                }
            }
            Cmd::Fdb(req, reply) => {
                let r = self.with_switches(|sws| {
                    crate::xlate::normal::fdb_command(sws.iter().map(|(n, s)| (*n, *s)), &req)
                });
                // fdb/flush, fdb/add and fdb/del reach the flows at once.
                self.l2_run();
                let _ = reply.send(r);
            }
            Cmd::Credit(n, credits) => {
                // (The counters are the caller's to add: see
                // `OfprotoService::credit_stats`.) Flows that carried
                // packets refresh what they learned.
                let mut changed = false;
                for c in credits.iter().filter(|c| c.packets > 0) {
                    changed |= self.apply_learned(&c.learned);
                }
                if changed {
                    self.tables_changed();
                    self.deliver_async(&n);
                }
                // Flows that carried packets refreshed their MACs.
                self.l2_run();
            }
            Cmd::SetTopology(dp_type, topo) => {
                // Only patch ports and tunnels make translations depend
                // on the topology; without them, no flow goes stale.
                let mut topologies = self
                    .shared
                    .topologies
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                let old = topologies.get(&dp_type);
                let relevant = topo.crosses_bridges() || old.is_some_and(|o| o.crosses_bridges());
                let changed = relevant
                    && old.is_none_or(|old| {
                        old.bridges != topo.bridges
                            || old.routes_generation != topo.routes_generation
                    });
                topologies.insert(dp_type, topo);
                drop(topologies);
                if changed {
                    self.tables_changed();
                }
            }
            Cmd::PatchTopology(dp_type, patch) => {
                let mut topologies = self
                    .shared
                    .topologies
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                // Patched in place, unless a handler still holds this
                // version for a translation: then it is copied once.
                let changed = topologies
                    .get_mut(&dp_type)
                    .is_some_and(|topo| patch.apply(Arc::make_mut(topo)));
                drop(topologies);
                if changed {
                    self.tables_changed();
                }
            }
            Cmd::DeliverAsync(names) => {
                for n in &names {
                    self.deliver_async(n);
                }
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

    /// Every bridge's tables, by name (patch ports and tunnels reach
    /// across bridges).
    /// Applies what translations learned to the bridges it names;
    /// whether some bridge's tables changed.
    /// Translates one MISS upcall's key in bridge `n` and applies what
    /// it learned (rules, MACs, in whichever bridges it went through).
    fn translate_upcall(
        &mut self,
        n: &str,
        req: &crate::xlate::upcall::UpcallRequest,
    ) -> Result<crate::xlate::upcall::UpcallXlate, String> {
        let r = match self.bridges.contains_key(n) {
            true => {
                let topo = self.topology_of(n);
                self.with_switches(|sws| {
                    crate::xlate::upcall::translate_upcall_world(sws, topo.as_deref(), n, req)
                })
            }
            false => Err("no bridge named ".to_string() + n),
        };
        // What translation learned applies now, for a packet.
        let r = r.map(|(_, mut x)| {
            if req.may_learn {
                x.tables_changed = self.apply_learned(&x.learned);
            }
            x
        });
        // Learning changed the tables: before the reply, so that the
        // handler's generation check sees it.
        if r.as_ref().is_ok_and(|x| x.tables_changed) {
            self.tables_changed();
            self.deliver_async(n);
        }
        r
    }

    fn apply_learned(&mut self, learned: &[crate::xlate::learn::Learned]) -> bool {
        for l in learned {
            if let crate::xlate::learn::Learned::Neighbour { bridge, ip, mac } = l {
                if let Some(topo) = self.topology_of(bridge) {
                    topo.underlay.neigh.set(bridge, *ip, *mac);
                }
            }
        }
        let mut changed = false;
        for (n, b) in &self.bridges {
            if learned.iter().any(|l| l.bridge() == n) {
                changed |= crate::xlate::learn::apply(&mut b.switch.write(), learned);
            }
        }
        changed
    }

    /// Runs `f` with every bridge's tables, by name (patch ports and
    /// tunnels reach across bridges), read-locked in name order as the
    /// handlers lock them.
    fn with_switches<R>(&self, f: impl FnOnce(&HashMap<&str, &Switch>) -> R) -> R {
        let mut names: Vec<&String> = self.bridges.keys().collect();
        names.sort();
        let guards: Vec<(&str, std::sync::RwLockReadGuard<'_, Switch>)> = names
            .into_iter()
            .map(|n| (n.as_str(), self.bridges[n].switch.read()))
            .collect();
        let sws: HashMap<&str, &Switch> = guards.iter().map(|(n, g)| (*n, &**g)).collect();
        f(&sws)
    }

    /// The topology that holds `bridge`.
    fn topology_of(&self, bridge: &str) -> Option<Arc<crate::xlate::topology::Topology>> {
        self.shared.topology_of(bridge)
    }

    fn add_bridge(&mut self, cfg: BridgeConfig) -> io::Result<()> {
        if self.bridges.contains_key(&cfg.name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "bridge exists",
            ));
        }
        let mut l = Listener::bind(&Target::PUnix(cfg.mgmt_path.clone()))?;
        let t = self.token();
        self.poll
            .registry()
            .register(&mut l, t, Interest::READABLE)?;
        self.entries
            .insert(t, Entry::Listener(l, cfg.name.clone(), None));
        let mut switch = Switch::new(&cfg.name, cfg.datapath_id);
        let fail_mode = if cfg.normal_flow {
            FailMode::Standalone
        } else {
            FailMode::Secure
        };
        if cfg.normal_flow {
            switch.add_normal_flow();
        }
        let switch = crate::switch::SharedSwitch::new(switch);
        self.shared
            .switches
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cfg.name.clone(), switch.clone());
        self.bridges.insert(
            cfg.name.clone(),
            Bridge {
                switch,
                cfg,
                listener: t,
                controllers: Vec::new(),
                fail_mode,
                fail_open: Default::default(),
                in_band: Default::default(),
            },
        );
        Ok(())
    }

    fn set_controllers(
        &mut self,
        name: &str,
        ctls: Vec<ControllerConfig>,
        mode: FailMode,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let Some(b) = self.bridges.get_mut(name) else {
            return vec![format!("{name}: no such bridge")];
        };
        let had = !b.controllers.is_empty();
        // Drop controllers that went away or changed.
        let old = std::mem::take(&mut b.controllers);
        let mut keep = Vec::new();
        let mut close = Vec::new();
        for c in old {
            if ctls.contains(&c.cfg) {
                keep.push(c);
            } else if let Some(t) = c.token {
                close.push(t);
            }
        }
        let now = Instant::now();
        let mut listeners = Vec::new();
        for cfg in ctls {
            if keep.iter().any(|c| c.cfg == cfg) {
                continue;
            }
            match Target::parse(&cfg.target) {
                Ok(target) => keep.push(Controller {
                    cfg,
                    target,
                    token: None,
                    backoff: Duration::from_secs(1),
                    next_attempt: now,
                    last_error: None,
                    connected_at: None,
                    disconnected_at: None,
                }),
                Err(e) => errors.push(e),
            }
        }
        for (i, c) in keep.iter().enumerate() {
            if c.target.is_passive() && c.token.is_none() {
                listeners.push(i);
            }
        }
        b.controllers = keep;
        let has = !b.controllers.is_empty();
        let mode_changed = b.fail_mode != mode;
        b.fail_mode = mode;
        let cfgs: Vec<&ControllerConfig> = b.controllers.iter().map(|c| &c.cfg).collect();
        b.fail_open.configure(&cfgs, mode, &b.switch, now);
        b.in_band.configure(&cfgs);
        // Stock flushes the flow table when the bridge gains its first
        // controller or loses its last, then re-adds the NORMAL flow of a
        // standalone bridge without controllers.
        // A fail-mode change without controllers flushes too.
        if had != has || (mode_changed && !has) {
            let mut sw = b.switch.write();
            sw.flush();
            if !has && mode == FailMode::Standalone {
                sw.add_normal_flow();
            }
        }
        for t in close {
            self.close_conn(t, None);
        }
        for i in listeners {
            let t = self.token();
            let Some(b) = self.bridges.get_mut(name) else {
                break;
            };
            let c = &mut b.controllers[i];
            match Listener::bind(&c.target) {
                Ok(mut l) => {
                    if let Err(e) = self.poll.registry().register(&mut l, t, Interest::READABLE) {
                        errors.push(format!("{}: {e}", c.cfg.target));
                        continue;
                    }
                    c.token = Some(t);
                    let target = c.cfg.target.clone();
                    self.entries
                        .insert(t, Entry::Listener(l, name.to_string(), Some(target)));
                }
                Err(e) => {
                    c.last_error = Some(e.to_string());
                    errors.push(format!("{}: {e}", c.cfg.target));
                }
            }
        }
        self.reconnect(name, now);
        errors
    }

    fn set_snoop(&mut self, bridge: &str, path: Option<PathBuf>) -> io::Result<()> {
        if !self.bridges.contains_key(bridge) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such bridge"));
        }
        let old: Vec<Token> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::SnoopListener(_, b) if b == bridge))
            .map(|(t, _)| *t)
            .collect();
        for t in old {
            if let Some(Entry::SnoopListener(mut l, _)) = self.entries.remove(&t) {
                let _ = self.poll.registry().deregister(&mut l);
                l.unlink();
            }
        }
        if let Some(p) = path {
            let mut l = Listener::bind(&Target::PUnix(p))?;
            let t = self.token();
            self.poll
                .registry()
                .register(&mut l, t, Interest::READABLE)?;
            self.entries
                .insert(t, Entry::SnoopListener(l, bridge.to_string()));
        }
        Ok(())
    }

    /// Accepts snoopers; each watches a connected active controller of
    /// the bridge, or is closed when there is none (as stock does).
    fn accept_snoop(&mut self, lt: Token) {
        loop {
            let (res, bridge) = match self.entries.get(&lt) {
                Some(Entry::SnoopListener(l, b)) => (l.accept(), b.clone()),
                _ => return,
            };
            let Ok(mut stream) = res else { return };
            let target = self.bridges.get(&bridge).and_then(|b| {
                b.controllers
                    .iter()
                    .filter(|c| !c.target.is_passive())
                    .find_map(|c| c.token)
            });
            let Some(target) = target else {
                log::info!("ofproto: {bridge}: no controller connection to snoop");
                continue;
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
                controller: None,
                rx: Vec::new(),
                tx: hello(versions),
                tx_sent: 0,
                watch_writable: true,
                phase: Phase::Hello,
                last_rx: Instant::now(),
                probe: Duration::ZERO,
                probe_sent: None,
                snooping: Some(target),
                copied: 0,
                error: None,
            };
            self.entries.insert(t, Entry::Conn(Box::new(conn)));
            if !self.service_conn(
                t,
                Readiness {
                    closed_or_error: true,
                },
            ) {
                self.close_conn(t, None);
            }
        }
    }

    /// Appends `bytes` (messages of connection `from`) to its snoopers.
    fn copy_to_snoopers(&mut self, from: Token, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut touched = Vec::new();
        for (t, e) in self.entries.iter_mut() {
            if let Entry::Conn(c) = e {
                if c.snooping == Some(from) && matches!(c.phase, Phase::Connected(_)) {
                    c.tx.extend_from_slice(bytes);
                    touched.push(*t);
                }
            }
        }
        for t in touched {
            if !self.flush(t) {
                self.close_conn(t, None);
            }
        }
    }

    fn controller_status(&self, name: &str) -> Vec<ControllerStatus> {
        let Some(b) = self.bridges.get(name) else {
            return Vec::new();
        };
        let now = Instant::now();
        b.controllers
            .iter()
            .map(|c| {
                let conn = c.token.and_then(|t| match self.entries.get(&t) {
                    Some(Entry::Conn(conn)) => Some(conn),
                    _ => None,
                });
                let connected = conn.and_then(|c| match &c.phase {
                    Phase::Connected(st) => Some(st.role),
                    _ => None,
                });
                let state = if c.target.is_passive() {
                    "LISTENING"
                } else if connected.is_some() {
                    "ACTIVE"
                } else if conn.is_some() {
                    "CONNECTING"
                } else {
                    "BACKOFF"
                };
                ControllerStatus {
                    target: c.cfg.target.clone(),
                    is_connected: connected.is_some(),
                    role: match connected {
                        Some(ROLE_PRIMARY) => "master",
                        Some(ROLE_SECONDARY) => "slave",
                        _ => "other",
                    }
                    .to_string(),
                    state: state.to_string(),
                    last_error: c.last_error.clone(),
                    sec_since_connect: c.connected_at.map(|t| now.duration_since(t).as_secs()),
                    sec_since_disconnect: c
                        .disconnected_at
                        .map(|t| now.duration_since(t).as_secs()),
                }
            })
            .collect()
    }

    fn remove_bridge(&mut self, name: &str) {
        let Some(b) = self.bridges.remove(name) else {
            return;
        };
        self.shared
            .switches
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        let tokens: Vec<Token> = self
            .entries
            .iter()
            .filter(|(_, e)| match e {
                Entry::Conn(c) => c.bridge == name,
                Entry::Listener(_, bn, _) | Entry::SnoopListener(_, bn) => bn == name,
            })
            .map(|(t, _)| *t)
            .collect();
        for t in tokens.into_iter().chain(std::iter::once(b.listener)) {
            match self.entries.remove(&t) {
                Some(Entry::Listener(mut l, _, _)) | Some(Entry::SnoopListener(mut l, _)) => {
                    let _ = self.poll.registry().deregister(&mut l);
                    l.unlink();
                }
                Some(Entry::Conn(mut c)) => {
                    let _ = self.poll.registry().deregister(&mut c.stream);
                }
                None => {}
            }
        }
    }

    fn ready(&mut self, t: Token, why: Readiness) {
        let is_listener = match self.entries.get(&t) {
            Some(Entry::Listener(..)) => true,
            Some(Entry::SnoopListener(..)) => {
                self.accept_snoop(t);
                return;
            }
            Some(Entry::Conn(_)) => false,
            None => return,
        };
        if is_listener {
            self.accept(t);
        } else if !self.service_conn(t, why) {
            self.close_conn(t, None);
        }
    }

    /// Closes a connection; an active controller's gets retried after its
    /// backoff.
    fn close_conn(&mut self, t: Token, why: Option<String>) {
        let Some(Entry::Conn(mut c)) = self.entries.remove(&t) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.stream);
        // Table misses stop going up as soon as the last connection that
        // wanted them is gone (stock counts connections the same way).
        self.update_packet_in_on_miss(&c.bridge);
        let why = why.or(c.error.take());
        // As stock's rconn, only a connection that was up counts as a
        // disconnection.
        let was_up = matches!(c.phase, Phase::Connected(_));
        let Some(target) = c.controller else { return };
        let Some(b) = self.bridges.get_mut(&c.bridge) else {
            return;
        };
        b.fail_open.closed(t);
        let now = Instant::now();
        if let Some(ctl) = b
            .controllers
            .iter_mut()
            .find(|x| x.cfg.target == target && x.token == Some(t))
        {
            ctl.token = None;
            if was_up {
                ctl.disconnected_at = Some(now);
            }
            if why.is_some() {
                ctl.last_error = why;
            } else if ctl.connected_at.is_none() {
                ctl.last_error = Some("connection failed".into());
            }
            ctl.next_attempt = now + ctl.backoff;
            ctl.backoff = (ctl.backoff * 2).min(ctl.cfg.max_backoff.max(Duration::from_secs(1)));
        }
    }

    fn accept(&mut self, lt: Token) {
        loop {
            let (res, bridge, controller) = match self.entries.get(&lt) {
                Some(Entry::Listener(l, b, c)) => (l.accept(), b.clone(), c.clone()),
                _ => return,
            };
            let mut stream = match res {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("ofproto: accept on {bridge} failed: {e}");
                    return;
                }
            };
            let Some(b) = self.bridges.get(&bridge) else {
                return;
            };
            let versions = b.cfg.versions;
            let probe = controller
                .as_ref()
                .and_then(|c| b.controllers.iter().find(|x| &x.cfg.target == c))
                .map_or(Duration::ZERO, |c| c.cfg.inactivity_probe);
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
                controller: controller.clone(),
                rx: Vec::new(),
                tx: hello(versions),
                tx_sent: 0,
                watch_writable: true,
                phase: Phase::Hello,
                last_rx: Instant::now(),
                probe,
                probe_sent: None,
                snooping: None,
                copied: 0,
                error: None,
            };
            self.entries.insert(t, Entry::Conn(Box::new(conn)));
            if !self.service_conn(
                t,
                Readiness {
                    closed_or_error: true,
                },
            ) {
                self.close_conn(t, None);
            }
        }
    }

    fn packet_in(&mut self, bridge: &str, pi: &crate::switch::PacketIn) {
        let mut touched = Vec::new();
        for (t, e) in self.entries.iter_mut() {
            let Entry::Conn(c) = e else { continue };
            if c.bridge != bridge || c.snooping.is_some() {
                continue;
            }
            let Phase::Connected(st) = &c.phase else {
                continue;
            };
            if let Some(m) = Switch::packet_in_msg(st, pi) {
                c.tx.extend_from_slice(&m);
                touched.push(*t);
            }
        }
        for t in touched {
            if !self.flush(t) {
                self.close_conn(t, None);
            }
        }
    }

    /// Writes what a connection has pending; false if it failed.
    fn flush(&mut self, t: Token) -> bool {
        let Some(Entry::Conn(c)) = self.entries.get_mut(&t) else {
            return false;
        };
        // Messages an active controller connection sends once connected
        // are copied to its snoopers (its HELLO is not).
        let mut copy = Vec::new();
        if c.copied < c.tx.len() {
            if c.controller.is_some() && matches!(c.phase, Phase::Connected(_)) {
                copy = c.tx[c.copied..].to_vec();
            }
            c.copied = c.tx.len();
        }
        if !copy.is_empty() {
            self.copy_to_snoopers(t, &copy);
        }
        let Some(Entry::Conn(c)) = self.entries.get_mut(&t) else {
            return false;
        };
        while c.tx_sent < c.tx.len() {
            match c.stream.write(&c.tx[c.tx_sent..]) {
                Ok(0) => return false,
                Ok(n) => c.tx_sent += n,
                // Still connecting, or the peer's window is full.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                    ) =>
                {
                    break
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    c.error = Some(e.to_string());
                    return false;
                }
            }
        }
        // Written bytes leave the buffer once they are most of it, so that
        // a long reply is not moved after every partial write.
        if c.tx_sent == c.tx.len() {
            c.tx.clear();
            c.copied = 0;
            c.tx_sent = 0;
            // A big reply's buffer is not kept for the connection's life,
            // nor the memory its messages were built in.
            if c.tx.capacity() > MAX_IDLE_TX_CAPACITY {
                c.tx.shrink_to(MAX_IDLE_TX_CAPACITY);
                super::trim::release_free_memory();
            }
        } else if c.tx_sent > c.tx.len() / 2 {
            c.tx.drain(..c.tx_sent);
            c.copied = c.copied.saturating_sub(c.tx_sent);
            c.tx_sent = 0;
        }
        let pending = !c.tx.is_empty();
        if has_request(&c.rx) && c.tx.len() - c.tx_sent <= MAX_TX_BACKLOG {
            self.resume.push(t);
        }
        if pending != c.watch_writable {
            let interest = if pending {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) = self.poll.registry().reregister(&mut c.stream, t, interest) {
                c.error = Some(e.to_string());
                return false;
            }
            c.watch_writable = pending;
        }
        true
    }

    /// Whether connection `t` holds a whole request back that its reply
    /// backlog now lets it answer.
    fn held_back(&self, t: Token) -> bool {
        match self.entries.get(&t) {
            Some(Entry::Conn(c)) => {
                !matches!(c.phase, Phase::Closing)
                    && has_request(&c.rx)
                    && c.tx.len() - c.tx_sent <= MAX_TX_BACKLOG
            }
            _ => false,
        }
    }

    /// Whether table misses of `bridge` go to the controllers by
    /// default: while a connection before OpenFlow 1.3 is up, as in
    /// stock. As in stock, a change does not revalidate the installed
    /// flows by itself (every short-lived `ovs-ofctl` would otherwise
    /// have all of them translated again twice).
    fn update_packet_in_on_miss(&mut self, bridge: &str) {
        let want = self.entries.values().any(|e| {
            matches!(e, Entry::Conn(c) if c.bridge == bridge
                && c.snooping.is_none()
                && matches!(&c.phase, Phase::Connected(st) if st.version < 4))
        });
        let Some(b) = self.bridges.get_mut(bridge) else {
            return;
        };
        if b.switch.read().packet_in_on_miss != want {
            b.switch.write().packet_in_on_miss = want;
        }
    }

    /// Sends the bridge's pending flow-removed and port-status messages to
    /// its connections, and demotes other primaries after a role change.
    fn deliver_async(&mut self, bridge: &str) {
        self.update_packet_in_on_miss(bridge);
        let Some(b) = self.bridges.get_mut(bridge) else {
            return;
        };
        let (removed, changes, events) = {
            let mut sw = b.switch.write();
            let removed: Vec<RemovedRule> = std::mem::take(&mut sw.removed);
            (
                removed,
                std::mem::take(&mut sw.port_changes),
                std::mem::take(&mut sw.flow_events),
            )
        };
        if removed.is_empty() && changes.is_empty() && events.is_empty() {
            return;
        }
        let shared = self.bridges[bridge].switch.clone();
        let sw = shared.read();
        let mut touched = Vec::new();
        for (t, e) in self.entries.iter_mut() {
            let Entry::Conn(c) = e else { continue };
            if c.bridge != bridge || c.snooping.is_some() {
                continue;
            }
            let Phase::Connected(st) = &c.phase else {
                continue;
            };
            for r in &removed {
                if let Some(m) = Switch::flow_removed_msg(st, r) {
                    c.tx.extend_from_slice(&m);
                }
            }
            for ch in &changes {
                if st.async_config().wants(st.role, 1, ch.reason) {
                    c.tx.extend_from_slice(&sw.port_status_msg(st.version, ch));
                }
            }
            if !events.is_empty() {
                if let Some(m) = Switch::flow_updates_msg(st, t.0, &events) {
                    c.tx.extend_from_slice(&m);
                }
            }
            touched.push(*t);
        }
        drop(sw);
        for t in touched {
            if !self.flush(t) {
                self.close_conn(t, None);
            }
        }
    }

    /// Reads, handles and writes what a connection has; false to close it.
    fn service_conn(&mut self, t: Token, why: Readiness) -> bool {
        // Write what is pending first, so that a peer catching up on
        // replies lets queued requests proceed.
        if !self.flush(t) {
            return false;
        }
        let Some(Entry::Conn(c)) = self.entries.get_mut(&t) else {
            return false;
        };
        if why.closed_or_error {
            match c.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    c.error = Some(e.to_string());
                    return false;
                }
            }
        }
        let mut eof = false;
        let buf = &mut self.read_buf[..];
        let mut demote = false;
        let mut became_connected = false;
        let mut snoop_rx = Vec::new();
        // Handle every complete message; `at` walks the buffer, which is
        // compacted once at the end.
        let mut at = 0usize;
        // While set: the socket is empty but a follow-up (the barrier
        // after a flow_mod) is expected before the second instant, so
        // reading goes on (without yielding until the first).
        let mut follow_up_until: Option<(Instant, Instant)> = None;
        // At most one such wait per pass, so that a peer streaming
        // flow_mods cannot hold the loop.
        let mut spun = false;
        // Passes that wrote their replies at once and read again for the
        // peer's next request (see below).
        let mut direct_passes = 0;
        // Whether the next read that finds nothing yields the CPU once
        // and reads again.
        let mut yield_once = false;
        'serve: loop {
            loop {
                match c.stream.read(buf) {
                    Ok(0) => {
                        eof = true;
                        c.error = Some("End of file".into());
                        break;
                    }
                    Ok(n) => {
                        yield_once = false;
                        // What was awaited came: no more waiting.
                        if follow_up_until.take().is_some() {
                            self.reply_poll.follow_up(true);
                        }
                        c.rx.extend_from_slice(&buf[..n]);
                        c.last_rx = Instant::now();
                        c.probe_sent = None;
                        // A peer that sends far more than it reads back is
                        // cut off rather than allowed to grow memory without
                        // bound.
                        if c.rx.len() > MAX_RX_BACKLOG {
                            log::warn!("ofproto: {}: peer is flooding, disconnecting", c.bridge);
                            return false;
                        }
                        // A short read emptied the socket: anything arriving
                        // later raises a new (edge-triggered) event, so one
                        // read per wakeup is enough unless the peer has
                        // closed (its end of file must still be seen).
                        if n < buf.len() && !why.closed_or_error {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => match follow_up_until {
                        Some((busy_until, until)) if Instant::now() < until => {
                            // The first few microseconds (when the barrier
                            // usually comes) look again at once; after that
                            // a peer sharing this CPU gets it in between.
                            if Instant::now() >= busy_until {
                                std::thread::yield_now();
                            }
                            continue;
                        }
                        Some(_) => {
                            self.reply_poll.follow_up(false);
                            break;
                        }
                        // Right after a direct pass's write (see below):
                        // let the peer just woken on this CPU run, then
                        // look once more.
                        None if std::mem::take(&mut yield_once) => {
                            std::thread::yield_now();
                            continue;
                        }
                        None => break,
                    },
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                    Err(_) => return false,
                }
            }
            // Whether the last message handled changed the tables and was
            // not answered: `ovs-ofctl` sends its barrier right behind it.
            let mut awaits_barrier = false;
            loop {
                if matches!(c.phase, Phase::Closing) {
                    at = c.rx.len();
                    break;
                }
                // Replies the peer has not read yet: wait for it before
                // answering more (the rest stays queued in `rx`).
                if c.tx.len() - c.tx_sent > MAX_TX_BACKLOG {
                    break;
                }
                let avail = c.rx.len() - at;
                if avail < 8 {
                    break;
                }
                let len = u16::from_be_bytes([c.rx[at + 2], c.rx[at + 3]]) as usize;
                if len < 8 {
                    // A length shorter than the header: stock drops the
                    // connection.
                    return false;
                }
                if avail < len {
                    break;
                }
                let msg = &c.rx[at..at + len];
                at += len;
                let Some(bridge) = self.bridges.get_mut(&c.bridge) else {
                    return false;
                };
                let versions = bridge.cfg.versions;
                match &mut c.phase {
                    Phase::Hello => {
                        if msg[1] != 0 {
                            return false;
                        }
                        let peer = hello_versions(msg);
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
                            let mut st = ConnState::new(v);
                            // Controllers get table misses by default (128
                            // bytes), the management socket does not.
                            if c.controller.is_some() {
                                st.miss_send_len = 128;
                            }
                            c.phase = Phase::Connected(st);
                            became_connected = true;
                        }
                    }
                    Phase::Connected(_) if c.snooping.is_some() => {
                        // A snooper only listens.
                    }
                    Phase::Connected(st) => {
                        let Some(h) = Header::parse(msg) else {
                            return false;
                        };
                        if c.controller.is_some() {
                            snoop_rx.extend_from_slice(msg);
                        }
                        if bridge
                            .fail_open
                            .received(t, msg, &bridge.switch, Instant::now())
                        {
                            self.tables_generation.bump(Scope::All);
                        }
                        if h.version != st.version && !(known_version(h.version) && h.msg_type <= 3)
                        {
                            c.tx.extend_from_slice(&error_msg(
                                OfpErr::OFPBRC_BAD_VERSION,
                                h.version,
                                h.xid,
                                msg,
                            ));
                            continue;
                        }
                        let mut sw = bridge.switch.write();
                        sw.event_origin = Some((t.0, h.xid));
                        // A flow_mod for one input port can only change the
                        // translation of that port's flows.
                        // (OFPT_FLOW_MOD, or Nicira's NXT_FLOW_MOD.)
                        let nx_subtype = (h.msg_type == 4
                            && msg.get(8..12) == Some(&[0, 0, 0x23, 0x20][..]))
                        .then(|| {
                            msg.get(12..16)
                                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                        })
                        .flatten();
                        let nx_flow_mod = nx_subtype == Some(13);
                        // Nicira messages that only set up the connection
                        // (role, formats, async config, controller id, monitor
                        // cancel, flow age, conntrack flush) leave the tables.
                        // So are OpenFlow 1.0's statistics requests (types 16
                        // and 17 there).
                        let harmless =
                            matches!(nx_subtype, Some(10 | 12 | 15 | 16 | 18 | 19 | 20 | 21 | 29))
                                || (h.version == 1 && matches!(h.msg_type, 16 | 17));
                        let is_flow_mod = h.msg_type == 14 || nx_flow_mod;
                        let scope = match h.msg_type {
                            _ if is_flow_mod => {
                                match crate::service::changes::flow_mod_in_port(msg) {
                                    Some(p) => Scope::InPort(p),
                                    None => Scope::All,
                                }
                            }
                            _ => Scope::All,
                        };
                        let replies = sw.handle(st, msg);
                        awaits_barrier = replies.is_empty() && may_change_tables(h.msg_type);
                        for r in replies {
                            c.tx.extend_from_slice(&r);
                        }
                        // Answered or not (a flow_mod whose barrier is still
                        // on its way), the peer is likely to send more soon.
                        self.served = true;
                        // Counted before any reply can reach the peer, so
                        // that a barrier reply means the change is visible.
                        if may_change_tables(h.msg_type) && !harmless {
                            // A flow_mod leaves the meters as they were (the
                            // hot path of add-flows skips the meter table's
                            // lock).
                            if !is_flow_mod {
                                crate::xlate::meter::sync(&sw.name, &sw.meters);
                            }
                            self.tables_generation.bump(scope);
                        }
                        sw.event_origin = None;
                        if std::mem::take(&mut sw.demote_others) {
                            demote = true;
                        }
                    }
                    Phase::Closing => {}
                }
            }
            // The barrier that follows a flow_mod comes a few microseconds
            // later: reading it now, rather than after another trip through
            // the poll loop, takes that trip off every rule's round trip.
            // The same backoff as the reply poll bounds it (see
            // `reply_poll`).
            if awaits_barrier
                && !spun
                && !eof
                && !matches!(c.phase, Phase::Closing)
                && !has_request(&c.rx[at..])
                && !why.closed_or_error
                && self.reply_poll.may_wait_for_follow_up()
            {
                let now = Instant::now();
                follow_up_until = Some((
                    now + FOLLOW_UP_BUSY,
                    now + self.reply_poll.follow_up_window(),
                ));
                spun = true;
                continue 'serve;
            }
            // A peer that waits for each reply before sending its next
            // request (`ovs-ofctl add-flows`: a flow_mod and a barrier,
            // then the barrier reply) sends that request while it runs
            // on the reply. On a busy machine it usually runs on this
            // very CPU, right after the write below wakes it, and has
            // sent the request by the time this thread runs again. So
            // the reply goes out now and the socket is read once more
            // here, rather than through another poll and pass of the
            // loop for every rule. Only for connections with no
            // snoopers or asynchronous messages to deliver first, and a
            // bounded number of times per call so the loop still runs.
            if direct_passes < MAX_DIRECT_PASSES
                && c.tx.len() > c.tx_sent
                && c.controller.is_none()
                && c.snooping.is_none()
                && !eof
                && !why.closed_or_error
                && matches!(c.phase, Phase::Connected(_))
                && !has_request(&c.rx[at..])
                && !self
                    .bridges
                    .get(&c.bridge)
                    .is_some_and(|b| b.switch.read().has_async())
                && write_now(c)
            {
                direct_passes += 1;
                spun = false;
                yield_once = !self.reply_poll.is_off();
                continue 'serve;
            }
            break 'serve;
        }
        c.rx.drain(..at);
        let bridge = c.bridge.clone();
        let controller = c.controller.clone();
        let closing = matches!(c.phase, Phase::Closing);
        let pending = !c.tx.is_empty();
        if became_connected {
            if let (Some(target), Some(b)) = (controller, self.bridges.get_mut(&bridge)) {
                b.fail_open.connected(t, &target, Instant::now());
                if let Some(ctl) = b.controllers.iter_mut().find(|x| x.cfg.target == target) {
                    ctl.connected_at = Some(Instant::now());
                    ctl.backoff = Duration::from_secs(1);
                    ctl.last_error = None;
                }
            }
        }
        if demote {
            for (other, e) in self.entries.iter_mut() {
                if let Entry::Conn(o) = e {
                    if *other != t && o.bridge == bridge {
                        if let Phase::Connected(st) = &mut o.phase {
                            if st.role == ROLE_PRIMARY {
                                st.role = ROLE_SECONDARY;
                            }
                        }
                    }
                }
            }
        }
        self.copy_to_snoopers(t, &snoop_rx);
        if !self.flush(t) {
            return false;
        }
        self.deliver_async(&bridge);
        let still_pending =
            matches!(self.entries.get(&t), Some(Entry::Conn(c)) if !c.tx.is_empty());
        if closing && !still_pending {
            return false;
        }
        !eof || (pending && still_pending)
    }
}

/// How many times one call of `service_conn` writes its replies at once
/// and reads the connection again for the next request.
const MAX_DIRECT_PASSES: u32 = 32;

/// Writes all of `c`'s pending replies now; false if some are left (the
/// peer's window is full, or an error, which `flush` then reports).
fn write_now(c: &mut Conn) -> bool {
    while c.tx_sent < c.tx.len() {
        match c.stream.write(&c.tx[c.tx_sent..]) {
            Ok(0) => return false,
            Ok(n) => c.tx_sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    c.tx.clear();
    c.copied = 0;
    c.tx_sent = 0;
    true
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

/// OpenFlow messages that may change flow, group or meter tables (or
/// port behaviour): vendor messages (Nicira flow mods), FLOW_MOD,
/// GROUP_MOD, PORT_MOD, TABLE_MOD, METER_MOD and bundles.
fn may_change_tables(msg_type: u8) -> bool {
    matches!(msg_type, 4 | 14 | 15 | 16 | 17 | 29 | 33 | 34)
}

/// Whether `rx` starts with a whole OpenFlow message (or a header whose
/// length is invalid, which servicing the connection turns into an
/// error).
fn has_request(rx: &[u8]) -> bool {
    match rx.get(2..4) {
        Some(l) if rx.len() >= 8 => {
            let len = u16::from_be_bytes([l[0], l[1]]) as usize;
            len < 8 || len <= rx.len()
        }
        _ => false,
    }
}
