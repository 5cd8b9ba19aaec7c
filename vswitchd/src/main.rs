//! ferrovs-vswitchd: a drop-in replacement for ovs-vswitchd.
//!
//! Startup follows ovs-vswitchd: parse the command line, open the log,
//! daemonize, create the control socket, then run one event loop over the
//! OVSDB connection, the control socket and the timers.

mod appctl;
mod bond;
mod bridge;
mod cmdline;
mod config;
mod coverage;
mod daemon;
mod datapath;
mod device;
mod dpctl;
mod fdb;
mod flow_table;
mod jsonrpc;
mod meters;
mod mirror;
mod netdev_dummy;
mod ofport;
mod openflow;
mod ovsdb;
mod resume;
mod revalidator;
mod status;
mod trace;
mod tunnel;
mod unixctl;
mod upcall;
mod vlog;

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use bridge::Bridges;
use cmdline::{Dirs, Options};
use config::Delta;
use coverage::Coverage;
use ovsdb::{Client, Event};
use unixctl::{Request, UnixctlServer};

const UNIXCTL_LISTENER: Token = Token(0);
const OVSDB: Token = Token(1);
const FIRST_UNIXCTL_CONN: usize = 2;
/// Woken by the OpenFlow service's thread (far from the unixctl tokens,
/// which count up from FIRST_UNIXCTL_CONN).
const OPENFLOW: Token = Token(usize::MAX - 1);
/// How often interface statistics are refreshed (stock's default
/// other_config:stats-update-interval).
const STATS_INTERVAL: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    vlog::init();
    let dirs = Dirs::from_env();
    let opts = match Options::parse(std::env::args().skip(1), &dirs) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ferrovs-vswitchd: {e}");
            eprintln!("Try 'ferrovs-vswitchd --help' for more information.");
            return ExitCode::FAILURE;
        }
    };
    if opts.help {
        print!("{}", cmdline::usage(&dirs));
        return ExitCode::SUCCESS;
    }
    if opts.version {
        println!("{}", cmdline::version_text());
        return ExitCode::SUCCESS;
    }
    match start(&opts, &dirs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!(target: "vswitchd", "{e}");
            eprintln!("ferrovs-vswitchd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn start(opts: &Options, dirs: &Dirs) -> Result<(), String> {
    for spec in &opts.verbose {
        vlog::set_levels_from_string(spec.as_deref())
            .map_err(|e| format!("processing \"{}\": {e}", spec.as_deref().unwrap_or("")))?;
    }
    if let Some(p) = &opts.pidfile {
        daemon::Pidfile::check(p, opts.overwrite_pidfile)?;
    }
    if let Some(f) = &opts.log_file {
        vlog::set_log_file(f)
            .map_err(|e| format!("{}: could not open log file: {e}", f.display()))?;
    }
    daemon::install_signal_handlers();
    let stack = ferrovs_ofproto::service::TRANSLATION_STACK as u64;
    match daemon::allow_main_stack(stack) {
        Ok(n) if n < stack => {
            log::warn!(target: "vswitchd", "stack limited to {n} bytes: ofproto/trace of deep pipelines may crash the daemon");
        }
        Ok(_) => {}
        Err(e) => log::warn!(target: "vswitchd", "could not raise the stack limit: {e}"),
    }
    // As stock: userspace bridges' taps outlive a restart or a crash.
    ferrovs_netdev::dev::tap::persistent_taps();
    let mut detached = if opts.detach {
        Some(daemon::detach(opts.no_chdir)?)
    } else {
        None
    };
    if opts.monitor {
        daemon::monitor(opts.detach)?;
    }
    if opts.detach {
        vlog::console_off();
    }
    let _pidfile = match &opts.pidfile {
        Some(p) => Some(daemon::Pidfile::create(p)?),
        None => None,
    };
    if opts.mlockall {
        if let Err(e) = daemon::mlockall() {
            log::error!(target: "vswitchd", "mlockall failed: {e}");
        }
    }
    let ctl_path = opts.unixctl.clone().unwrap_or_else(|| {
        dirs.rundir
            .join(format!("ovs-vswitchd.{}.ctl", std::process::id()))
    });
    let mut app = App::new(opts, dirs, &ctl_path)?;
    if let Some(d) = detached.as_mut() {
        d.complete();
    }
    log::info!(target: "bridge", "ovs-vswitchd (Open vSwitch) {} (ferrovs {})", cmdline::OVS_VERSION, env!("CARGO_PKG_VERSION"));
    app.run();
    Ok(())
}

/// The daemon's state, driven by the event loop.
struct App {
    poll: Poll,
    unixctl: UnixctlServer,
    ovsdb: Client,
    bridges: Bridges,
    openflow: openflow::Openflow,
    coverage: Coverage,
    /// The desired configuration, kept current from the database's
    /// changes (and kept across OVSDB outages).
    config: config::Tracker,
    /// Whether a configuration has been applied yet.
    applied: bool,
    need_reconfigure: bool,
    need_status: bool,
    /// The next status write covers every row, not only the dirty ones.
    need_full_status: bool,
    txn_in_flight: Option<u64>,
    next_stats: Instant,
    exit: Option<bool>,
    /// Ports with several interfaces (see `bond`).
    bonds: bond::Bonds,
}

impl App {
    fn new(opts: &Options, dirs: &Dirs, ctl_path: &Path) -> Result<App, String> {
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        let mut unixctl = UnixctlServer::new(
            ctl_path,
            poll.registry(),
            UNIXCTL_LISTENER,
            FIRST_UNIXCTL_CONN,
        )
        .map_err(|e| {
            format!(
                "{}: could not initialize control socket: {e}",
                ctl_path.display()
            )
        })?;
        for (name, usage, min, max) in COMMANDS
            .iter()
            .chain(DPCTL_COMMANDS)
            .chain(bond::COMMANDS)
            .chain(tunnel::COMMANDS)
            .chain(fdb::COMMANDS)
            .chain(appctl::COMMANDS)
        {
            unixctl.register(name, usage, *min, *max);
        }
        for name in appctl::HIDDEN {
            unixctl.hide(name);
        }
        if opts.dummy.is_some() {
            for (name, usage, min, max) in DUMMY_COMMANDS {
                unixctl.register(name, usage, *min, *max);
            }
        }
        let ovsdb = Client::new(&opts.database(dirs), OVSDB);
        if opts.dummy.is_none() && !opts.disable_system {
            // Without the module, the probe logs stock's message saying so.
            datapath::kernel::module_loaded();
        }
        let openflow = openflow::Openflow::start(poll.registry(), OPENFLOW)
            .map_err(|e| format!("OpenFlow service: {e}"))?;
        let mut bridges = Bridges::new(opts.dummy, &dirs.rundir);
        bridges.system_routes = !opts.disable_system_route;
        bridges.openflow_factory = Some(openflow.factory());
        bridges.upcall_service = Some(openflow.service());
        Ok(App {
            poll,
            unixctl,
            ovsdb,
            bridges,
            openflow,
            coverage: Coverage::default(),
            config: config::Tracker::default(),
            applied: false,
            need_reconfigure: false,
            need_status: false,
            need_full_status: true,
            txn_in_flight: None,
            next_stats: Instant::now() + STATS_INTERVAL,
            exit: None,
            bonds: bond::Bonds::default(),
        })
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            if daemon::TERMINATE.load(Ordering::SeqCst) {
                log::info!(target: "vswitchd", "terminating on signal");
                // As stock: the userspace datapath's taps (and what the
                // host configured on them) stay for the next daemon.
                ferrovs_netdev::dev::tap::keep_taps();
                break;
            }
            if daemon::REOPEN_LOG.swap(false, Ordering::SeqCst) {
                let _ = vlog::reopen();
            }
            if let Some(cleanup) = self.exit {
                if cleanup {
                    self.bridges.destroy_datapaths();
                } else {
                    ferrovs_netdev::dev::tap::keep_taps();
                }
                self.unixctl.flush_all(self.poll.registry());
                break;
            }
            self.ovsdb.run(self.poll.registry());
            self.coverage.tick();
            if Instant::now() >= self.next_stats {
                self.next_stats = Instant::now() + STATS_INTERVAL;
                self.need_status = true;
                self.need_full_status = true;
                // The bridges' addresses picked again from their ports'
                // devices, and a bridge's own port whose address someone
                // changed gets the bridge's back (before the OpenFlow
                // ports and the topology are read again).
                self.bridges.refresh_local_macs(&self.config.config);
                openflow::sync_ports(&mut self.bridges);
                self.bridges.sync_upcall_ports(&Delta::everything());
            }
            self.run_bonds();
            self.reconfigure_and_report();

            let mut timeout = self.next_stats.saturating_duration_since(Instant::now());
            if let Some(t) = self.bonds.timeout(Instant::now()) {
                timeout = timeout.min(t);
            }
            if let Some(t) = self.ovsdb.timeout() {
                timeout = timeout.min(t);
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!(target: "vswitchd", "poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            for ev in events.iter() {
                let token = ev.token();
                if token == OPENFLOW {
                    let mods = self.openflow.take_port_mods();
                    if openflow::apply_port_mods(&mut self.bridges, mods) {
                        self.need_status = true;
                        openflow::sync_ports(&mut self.bridges);
                    }
                    self.bridges.packet_outs(self.openflow.take_packet_outs());
                } else if token == OVSDB {
                    let evs = self.ovsdb.handle_event(self.poll.registry());
                    self.handle_ovsdb_events(evs);
                } else if self.unixctl.owns(token) {
                    if ev.is_writable() {
                        self.unixctl.flush_all(self.poll.registry());
                    }
                    let requests = self.unixctl.handle_event(token, self.poll.registry());
                    for req in requests {
                        self.coverage.inc("unixctl_received");
                        let outcome = self.command(&req);
                        self.coverage.inc("unixctl_replied");
                        self.unixctl.reply(self.poll.registry(), &req, outcome);
                    }
                    // A command may have changed a device's state.
                    openflow::sync_ports(&mut self.bridges);
                }
            }
        }
    }

    fn handle_ovsdb_events(&mut self, evs: Vec<Event>) {
        for ev in evs {
            match ev {
                Event::Changed => self.need_reconfigure = true,
                // A new session: the database may hold anything.
                Event::LockAcquired => {
                    self.need_reconfigure = true;
                    self.need_full_status = true;
                }
                Event::LockLost => {}
                Event::TxnDone { id, error } => {
                    if self.txn_in_flight == Some(id) {
                        self.txn_in_flight = None;
                    }
                    if let Some(e) = error {
                        log::warn!(target: "bridge", "status transaction failed: {e}");
                        self.need_status = true;
                        self.need_full_status = true;
                    }
                }
            }
        }
    }

    /// Applies a changed configuration and writes the status back, one
    /// transaction at a time.
    fn reconfigure_and_report(&mut self) {
        if !(self.ovsdb.synced && self.ovsdb.has_lock) {
            return;
        }
        if self.need_reconfigure {
            self.need_reconfigure = false;
            let changes = self.ovsdb.take_changes();
            log::debug!(target: "bridge", "reconfiguring for changed rows {:?}", changes.rows);
            let (ports_read, examined) = (self.config.ports_read, self.bridges.ifaces_examined);
            let mut delta = self.config.update(&self.ovsdb.replica, &changes);
            if !self.applied {
                delta = Delta::everything();
            }
            if !delta.is_empty() {
                let cfg = &self.config.config;
                self.bridges.reconfigure(cfg, &mut delta);
                openflow::sync_changed_ports(&mut self.bridges, &delta);
                self.bridges.sync_upcall_ports(&delta);
                let now = Instant::now();
                if self
                    .bonds
                    .reconfigure(cfg, &self.bridges, &self.ovsdb.replica, now)
                {
                    self.bonds_changed();
                }
                self.coverage.inc("bridge_reconfigure");
                self.applied = true;
            }
            // Work done, per port: how many Port rows the configuration
            // read and how many interfaces reconfiguration looked at.
            self.coverage
                .add("bridge_port_read", self.config.ports_read - ports_read);
            self.coverage.add(
                "bridge_iface_examined",
                self.bridges.ifaces_examined - examined,
            );
            self.need_status = true;
        }
        if self.need_status && self.txn_in_flight.is_none() {
            if !self.applied {
                return;
            }
            let cfg = &self.config.config;
            let full = std::mem::take(&mut self.need_full_status);
            let mut ops = status::status_ops(
                &mut self.bridges,
                cfg,
                &self.ovsdb.replica,
                Some(cfg.next_cfg),
                full,
            );
            if full {
                ops.extend(openflow::controller_status_ops(
                    &self.bridges,
                    &self.ovsdb.replica,
                ));
                ops.extend(mirror::status_ops(&self.ovsdb.replica));
            }
            ops.extend(self.bonds.status_ops(&self.ovsdb.replica));
            self.need_status = false;
            if ops.is_empty() {
                return;
            }
            let (id, evs) = self.ovsdb.transact(self.poll.registry(), ops);
            self.txn_in_flight = id;
            self.handle_ovsdb_events(evs);
        }
    }

    /// Bonds' periodic work (members' liveness).
    fn run_bonds(&mut self) {
        let now = Instant::now();
        let due = self.bonds.timeout(now).is_some_and(|t| t.is_zero());
        if due && self.bonds.run(&self.bridges, now) {
            self.bonds_changed();
        }
        // A member's LACP state can change (`lacp_current`) without the
        // bond's members changing: written now, not at the next periodic
        // status write (up to 5 s later, which 48-lacp's wait for
        // lacp_current sometimes outlasted in the VM).
        if self.bonds.status_dirty() {
            self.need_status = true;
        }
    }

    /// A bond's members or active member changed: every flow is
    /// translated again, and the far side is told where the MACs are.
    /// (`bond_active_slave` and `lacp_current`, if they changed, are
    /// written by the callers' status write.)
    fn bonds_changed(&mut self) {
        self.openflow
            .service()
            .changes()
            .bump(ferrovs_ofproto::service::changes::Scope::All);
        let openflow = &self.openflow;
        self.bonds.send_learning_packets(&self.bridges, |br| {
            openflow
                .fdb(ferrovs_ofproto::service::FdbRequest::Show(br.to_string()))
                .ok()
        });
    }

    /// Runs one control command.
    fn command(&mut self, req: &Request) -> Result<String, String> {
        let args = &req.args;
        match req.method.as_str() {
            "list-commands" => Ok(self.unixctl.list_commands()),
            "version" => Ok(cmdline::version_text()),
            "exit" => {
                self.exit = Some(args.first().map(String::as_str) == Some("--cleanup"));
                Ok(String::new())
            }
            "vlog/list" => Ok(vlog::list()),
            "vlog/set" => {
                // With no argument, as stock: everything at DBG.
                if args.is_empty() {
                    vlog::set_levels_from_string(None)?;
                }
                for a in args {
                    vlog::set_levels_from_string(Some(a))?;
                }
                Ok(String::new())
            }
            "vlog/reopen" => vlog::reopen().map(|()| String::new()),
            "vlog/close" => {
                vlog::close();
                Ok(String::new())
            }
            "memory/show" => {
                let replica = &self.ovsdb.replica;
                Ok(appctl::memory_show(&self.bridges, |t| {
                    replica.tables.get(t).map_or(0, |r| r.len())
                }))
            }
            "coverage/show" => Ok(self.coverage.show()),
            "dpif/show" => Ok(self.bridges.dpif_show()),
            "dpif/dump-dps" => Ok(self.bridges.dump_dps()),
            // Stock takes the last argument as the bridge, and shows what
            // its datapath offers before any run-time change.
            "dpif/show-dp-features" => args
                .last()
                .and_then(|b| self.bridges.bridges.get(b))
                .and_then(|b| self.bridges.boot_support(&b.dp_type))
                .map(|s| s.show())
                .ok_or_else(|| "no such bridge".to_string()),
            "ofproto/list" => Ok(self.openflow.list()),
            "upcall/show" => Ok(self.bridges.upcall_show()),
            "revalidator/purge" => {
                self.bridges.revalidator_purge();
                Ok(String::new())
            }
            "revalidator/wait" => {
                self.bridges.revalidator_wait();
                Ok(String::new())
            }
            "revalidator/pause" | "revalidator/resume" => {
                self.bridges
                    .revalidator_pause(req.method == "revalidator/pause");
                Ok(String::new())
            }
            "bridge/reconnect" => match args.first() {
                Some(b) if !self.bridges.bridges.contains_key(b) => Err("Unknown bridge".into()),
                b => {
                    self.openflow.reconnect_controllers(b.map(String::as_str));
                    Ok(String::new())
                }
            },
            m if bond::handles(m) => {
                let r =
                    self.bonds
                        .command(m.strip_prefix("bond/").unwrap_or(m), args, Instant::now());
                if self.bonds.publish_changes() {
                    self.bonds_changed();
                }
                r
            }
            "ofproto/trace" => trace::ofproto_trace(&self.bridges, &self.openflow, args),
            "ofproto/trace-packet-out" => {
                trace::ofproto_trace_packet_out(&self.bridges, &self.openflow, args)
            }
            m if m.starts_with("fdb/") => fdb::run(&self.openflow, &m["fdb/".len()..], args),
            "dpif-netdev/pmd-stats-show" | "dpif-netdev/pmd-stats-clear" => dpctl::pmd_stats(
                req.method.ends_with("clear"),
                args,
                &self.bridges.netdev.values().collect::<Vec<_>>(),
            ),
            "netdev-dummy/receive" => {
                netdev_dummy::receive(args, &self.bridges.netdev.values().collect::<Vec<_>>())
            }
            "netdev-dummy/set-admin-state" => netdev_dummy::set_admin_state(
                args,
                &self.bridges.netdev.values().collect::<Vec<_>>(),
            ),
            "netdev-dummy/ip4addr" | "netdev-dummy/ip6addr" => {
                // A device's addresses changed outside the configuration:
                // translation learns them now (stock's next run does), from
                // a publication that reads every port again.
                let r = netdev_dummy::ipaddr(
                    req.method.ends_with("6addr"),
                    args,
                    &self.bridges.netdev.values().collect::<Vec<_>>(),
                );
                self.bridges.mark_topology_stale();
                if let Some(svc) = &self.bridges.upcall_service {
                    tunnel::publish(&self.bridges, svc);
                }
                r
            }
            "netdev-dummy/conn-state" => netdev_dummy::conn_state(args),
            m if m.starts_with("dpctl/") && m != "dpctl/list-commands" => {
                let dps: dpctl::BTreeDps<'_> = self
                    .bridges
                    .backers
                    .iter()
                    .map(|(t, d)| {
                        let name = bridge::lock_dpif(d).name().to_string();
                        (
                            format!("{t}@{name}"),
                            dpctl::Datapath {
                                dpif: d,
                                netdev: self.bridges.netdev.get(t),
                            },
                        )
                    })
                    .collect();
                dpctl::run(&m["dpctl/".len()..], args, &dps)
            }
            m if (m.starts_with("tnl/") && m != "tnl/egress_port_range")
                || m.starts_with("ovs/route/")
                || m == "dpif/set-dp-features" =>
            {
                tunnel::command(m, args, &self.bridges)
                    .unwrap_or_else(|| Err(format!("\"{m}\" is not implemented")))
            }
            other => {
                let cx = appctl::Ctx {
                    bridges: &self.bridges,
                    coverage: &self.coverage,
                    dpctl_commands: DPCTL_COMMANDS,
                };
                appctl::run(other, args, &cx)
                    .unwrap_or_else(|| Err(format!("\"{other}\" is not implemented")))
            }
        }
    }
}

/// The control commands: name, usage, min and max argument counts.
const COMMANDS: &[(&str, &str, usize, usize)] = &[
    ("list-commands", "", 0, 0),
    ("version", "", 0, 0),
    ("exit", "[--cleanup]", 0, 1),
    ("vlog/list", "", 0, 0),
    (
        "vlog/set",
        "{spec | PATTERN:destination:pattern}",
        0,
        usize::MAX,
    ),
    ("vlog/reopen", "", 0, 0),
    ("vlog/close", "", 0, 0),
    ("memory/show", "", 0, 0),
    ("coverage/show", "", 0, 0),
    ("dpif/show", "", 0, 0),
    ("dpif/dump-dps", "", 0, 0),
    ("dpif/show-dp-features", "bridge", 1, 1),
    ("ofproto/list", "", 0, 0),
    ("upcall/show", "", 0, 0),
    ("revalidator/wait", "", 0, 0),
    ("revalidator/purge", "", 0, 0),
    ("revalidator/pause", "", 0, 0),
    ("revalidator/resume", "", 0, 0),
    ("bridge/reconnect", "[bridge]", 0, 1),
    (
        "ofproto/trace",
        "{[dp_name] odp_flow | bridge br_flow} [OPTIONS...] [-generate|packet]",
        1,
        usize::MAX,
    ),
    (
        "ofproto/trace-packet-out",
        "[-consistent] {[dp_name] odp_flow | bridge br_flow} [OPTIONS...] [-generate|packet] actions",
        2,
        usize::MAX,
    ),
];

/// `dpctl/*` and `dpif-netdev/*`: name, usage, min and max argument
/// counts (options count as arguments, as in stock).
const DPCTL_COMMANDS: &[(&str, &str, usize, usize)] = &[
    ("dpctl/dump-dps", "", 0, 0),
    ("dpctl/show", "[-s] [dp...]", 0, usize::MAX),
    (
        "dpctl/dump-flows",
        "[-m] [--names] [dp] [filter=..] [type=..] [pmd=..]",
        0,
        6,
    ),
    ("dpctl/add-flow", "[dp] flow actions", 2, 3),
    ("dpctl/mod-flow", "[dp] flow actions", 2, 3),
    ("dpctl/get-flow", "[dp] ufid", 1, 2),
    ("dpctl/del-flow", "[dp] flow", 1, 2),
    ("dpctl/add-flows", "[dp] file", 1, 2),
    ("dpctl/mod-flows", "[dp] file", 1, 2),
    ("dpctl/del-flows", "[dp] [file]", 0, 2),
    ("dpctl/dump-conntrack", "[-m] [-s] [dp] [zone=N]", 0, 4),
    (
        "dpctl/flush-conntrack",
        "[dp] [zone=N] [ct-orig-tuple] [ct-reply-tuple]",
        0,
        4,
    ),
    ("dpctl/offload-stats-show", "[dp]", 0, 1),
    ("dpctl/ct-stats-show", "[dp] [zone=N]", 0, 3),
    ("dpctl/ct-get-maxconns", "[dp]", 0, 1),
    ("dpctl/ct-get-nconns", "[dp]", 0, 1),
    ("dpctl/parse-actions", "actions", 1, usize::MAX),
    ("dpif-netdev/pmd-stats-show", "[-pmd core] [dp]", 0, 3),
    ("dpif-netdev/pmd-stats-clear", "[-pmd core] [dp]", 0, 3),
];

/// `netdev-dummy/*`, registered under --enable-dummy.
const DUMMY_COMMANDS: &[(&str, &str, usize, usize)] = &[
    (
        "netdev-dummy/receive",
        "name [--qid queue_id] packet|flow [--len packet_len]",
        2,
        usize::MAX,
    ),
    ("netdev-dummy/set-admin-state", "[netdev] up|down", 1, 2),
    ("netdev-dummy/conn-state", "[netdev]", 0, 1),
    ("netdev-dummy/ip6addr", "[netdev] ip6addr", 2, 2),
    (
        "netdev-dummy/ip4addr",
        "[netdev] ipaddr/mask-prefix-len",
        2,
        2,
    ),
];
