//! [`NetlinkDpif`]: the [`Dpif`] trait over the kernel module.

use super::consts::{cmd, dp_feature, ufid_flags, vport_type};
use super::datapath::{DpInfo, DpRequest};
use super::flow::FlowRequest;
use super::rtnl;
use super::tunnel;
use super::vport::{vport_type_name, VportInfo, VportRequest};
use super::Netlink;
use crate::support::Support;
use crate::{
    DpFlow, DpStats, Dpif, DpifError, DpifPort, Execute, FlowId, FlowPut, FlowStats, OdpPort,
    PortSpec, Result, Ufid,
};

/// How the datapath picks the socket of an upcall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchMode {
    /// By the CPU that received the packet (OVS_DP_F_DISPATCH_UPCALL_PER_CPU).
    PerCpu,
    /// By the port the packet came in on (OVS_DP_F_VPORT_PIDS).
    PerVport,
}

/// A datapath of the kernel module.
#[derive(Debug)]
pub struct NetlinkDpif {
    nl: Netlink,
    name: String,
    dp_ifindex: i32,
    user_features: u32,
    /// Upcall ports given to ports added from now on (per-vport dispatch).
    pub(super) port_upcall_pids: Vec<u32>,
    /// The highest `hash` algorithm the kernel takes (see
    /// [`Self::probe_max_hash_alg`]: symmetric L4 came with Linux 6.5).
    max_hash_alg: u32,
}

/// The port type Open vSwitch reports for a kernel port.
pub(super) fn port_type(v: &VportInfo) -> String {
    if v.vport_type == vport_type::NETDEV {
        if let Some(t) = tunnel::type_from_device_name(&v.name) {
            return t.to_string();
        }
    }
    vport_type_name(v.vport_type).to_string()
}

fn to_dpif_port(v: &VportInfo) -> DpifPort {
    DpifPort {
        name: v.name.clone(),
        port_type: port_type(v),
        port_no: v.port_no,
    }
}

impl NetlinkDpif {
    /// The names of every kernel datapath.
    pub fn enumerate() -> Result<Vec<String>> {
        Ok(Netlink::open()?
            .dp_dump()?
            .into_iter()
            .map(|d| d.name)
            .collect())
    }

    /// Creates datapath `name`, negotiating features as Open vSwitch does:
    /// probe that the kernel rejects unknown features, then ask for per-CPU
    /// dispatch, falling back to per-vport PIDs.
    pub fn create(name: &str) -> Result<Self> {
        Self::open_or_create(name, true)
    }

    /// Opens the existing datapath `name` (and renegotiates its features,
    /// as any Open vSwitch tool that opens it does).
    pub fn open(name: &str) -> Result<Self> {
        Self::open_or_create(name, false)
    }

    fn open_or_create(name: &str, create: bool) -> Result<Self> {
        let mut nl = Netlink::open()?;
        let (command, base_features) = if create {
            (cmd::NEW, 0)
        } else {
            (cmd::SET, nl.dp_get(name)?.user_features)
        };
        let request = |features: u32| DpRequest {
            cmd: command,
            name: Some(name),
            upcall_pid: Some(0),
            user_features: Some(features),
            ..DpRequest::default()
        };
        let probe = base_features
            | dp_feature::UNALIGNED
            | dp_feature::VPORT_PIDS
            | dp_feature::PROBE_UNSUPPORTED;
        let info = match nl.dp_transact(&request(probe)) {
            Err(_) => {
                let per_cpu = (probe & !(dp_feature::PROBE_UNSUPPORTED | dp_feature::VPORT_PIDS))
                    | dp_feature::DISPATCH_UPCALL_PER_CPU;
                let info = match nl.dp_transact(&request(per_cpu)) {
                    Err(e) if e.errno == libc::EOPNOTSUPP => {
                        let per_vport = (per_cpu & !dp_feature::DISPATCH_UPCALL_PER_CPU)
                            | dp_feature::VPORT_PIDS;
                        nl.dp_transact(&request(per_vport))?
                    }
                    other => other?,
                };
                let mut dpif = NetlinkDpif::from_info(nl, &info);
                // Optional (needs tc skb extensions); a refusal changes nothing.
                let _ = dpif.set_features(dp_feature::TC_RECIRC_SHARING);
                if create {
                    dpif.log_dispatch_mode();
                }
                return Ok(dpif);
            }
            Ok(_) => {
                // A kernel that takes any feature bit does not negotiate;
                // settle for the basics.
                log::info!(target: "dpif_netlink", "Kernel does not correctly support feature negotiation. Using standard features.");
                nl.dp_transact(&DpRequest {
                    cmd: cmd::SET,
                    name: Some(name),
                    upcall_pid: Some(0),
                    user_features: Some(dp_feature::UNALIGNED | dp_feature::VPORT_PIDS),
                    ..DpRequest::default()
                })?
            }
        };
        let dpif = NetlinkDpif::from_info(nl, &info);
        if create {
            dpif.log_dispatch_mode();
        }
        Ok(dpif)
    }

    /// Finds the highest `hash` algorithm the kernel takes, as stock's
    /// switch probes (and logs) it when it opens its datapath (the daemon
    /// calls this; a tool like ferrovs-dpctl has no use for it, and
    /// [`Dpif::support`] says L4 only until then): every kernel has
    /// OVS_HASH_ALG_L4; a packet executed with `hash(sym_l4(0))` and no
    /// other action is refused (EINVAL) by kernels before 6.5 and dropped
    /// by the others.
    pub fn probe_max_hash_alg(&mut self) {
        let actions = crate::odp::action::encode_actions(&[crate::odp::Action::Hash {
            alg: crate::odp::OVS_HASH_ALG_SYM_L4,
            basis: 0,
        }]);
        let key = crate::odp::Key::parse_text("in_port(0)").and_then(|k| k.to_nlattrs());
        // A broadcast frame of an unused EtherType, from a local address;
        // no action outputs it.
        let mut frame = [0u8; 60];
        frame[..6].fill(0xff);
        frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
        let taken = match (actions, key) {
            (Ok(actions), Ok(key)) => self
                .execute(&Execute {
                    packet: &frame,
                    key: &key,
                    actions: &actions,
                    probe: true,
                    mru: 0,
                })
                .is_ok(),
            _ => false,
        };
        self.max_hash_alg = if taken {
            crate::odp::OVS_HASH_ALG_SYM_L4
        } else {
            crate::odp::OVS_HASH_ALG_L4
        };
        log::info!(target: "ofproto_dpif", "{}: Max dp_hash algorithm probed to be {}", self.full_name(), self.max_hash_alg);
    }

    fn log_dispatch_mode(&self) {
        let mode = match self.dispatch_mode() {
            DispatchMode::PerCpu => "per-cpu",
            DispatchMode::PerVport => "per-vport",
        };
        log::info!(target: "dpif_netlink", "Datapath dispatch mode: {mode}");
    }

    /// The name Open vSwitch's messages give the datapath.
    pub(super) fn full_name(&self) -> String {
        format!("system@{}", self.name)
    }

    fn from_info(nl: Netlink, info: &DpInfo) -> Self {
        NetlinkDpif {
            nl,
            name: info.name.clone(),
            dp_ifindex: info.dp_ifindex,
            user_features: info.user_features,
            port_upcall_pids: vec![0],
            max_hash_alg: crate::odp::OVS_HASH_ALG_L4,
        }
    }

    /// The datapath's ifindex (of its local port's device).
    pub fn dp_ifindex(&self) -> i32 {
        self.dp_ifindex
    }

    /// The OVS_DP_F_* features the kernel granted.
    pub fn user_features(&self) -> u32 {
        self.user_features
    }

    pub fn dispatch_mode(&self) -> DispatchMode {
        if self.user_features & dp_feature::DISPATCH_UPCALL_PER_CPU != 0 {
            DispatchMode::PerCpu
        } else {
            DispatchMode::PerVport
        }
    }

    /// The connection, for requests the trait does not cover.
    pub fn netlink(&mut self) -> &mut Netlink {
        &mut self.nl
    }

    /// The datapath as the kernel now describes it.
    pub fn info(&mut self) -> Result<DpInfo> {
        self.nl.dp_transact(&DpRequest {
            cmd: cmd::GET,
            dp_ifindex: self.dp_ifindex,
            ..DpRequest::default()
        })
    }

    fn dp_set(&mut self, features: u32, per_cpu_pids: Option<&[u32]>) -> Result<DpInfo> {
        let info = self.nl.dp_transact(&DpRequest {
            cmd: cmd::SET,
            dp_ifindex: self.dp_ifindex,
            name: Some(&self.name),
            user_features: Some(features),
            per_cpu_pids,
            ..DpRequest::default()
        })?;
        self.user_features = info.user_features;
        Ok(info)
    }

    /// Adds user features; EOPNOTSUPP if the kernel did not grant them.
    pub fn set_features(&mut self, features: u32) -> Result<()> {
        self.dp_set(self.user_features | features, None)?;
        if self.user_features & features != features {
            return Err(DpifError::new(
                libc::EOPNOTSUPP,
                "datapath feature not supported",
            ));
        }
        Ok(())
    }

    /// Per-CPU dispatch: CPU `i` sends its upcalls to `pids[i % pids.len()]`
    /// (the kernel gets one entry per possible CPU).
    pub fn set_upcall_pids_per_cpu(&mut self, pids: &[u32]) -> Result<()> {
        if pids.is_empty() {
            return Err(DpifError::new(libc::EINVAL, "no upcall sockets given"));
        }
        let n_cpus = possible_cpus().max(pids.len());
        let spread: Vec<u32> = (0..n_cpus).map(|i| pids[i % pids.len()]).collect();
        let features =
            (self.user_features & !dp_feature::VPORT_PIDS) | dp_feature::DISPATCH_UPCALL_PER_CPU;
        self.dp_set(features, Some(&spread))?;
        if self.dispatch_mode() != DispatchMode::PerCpu {
            return Err(DpifError::new(
                libc::EOPNOTSUPP,
                "per-CPU upcall dispatch not supported",
            ));
        }
        Ok(())
    }

    /// Per-vport dispatch: every port (present and future) sends its
    /// upcalls to `pids` (the kernel spreads them by flow hash).
    pub fn set_upcall_pids_per_vport(&mut self, pids: &[u32]) -> Result<()> {
        if pids.is_empty() {
            return Err(DpifError::new(libc::EINVAL, "no upcall sockets given"));
        }
        let features =
            (self.user_features & !dp_feature::DISPATCH_UPCALL_PER_CPU) | dp_feature::VPORT_PIDS;
        self.dp_set(features, None)?;
        if self.dispatch_mode() != DispatchMode::PerVport {
            return Err(DpifError::new(
                libc::EOPNOTSUPP,
                "per-vport upcall dispatch refused",
            ));
        }
        self.port_upcall_pids = pids.to_vec();
        for port in self.nl.vport_dump(self.dp_ifindex)? {
            self.nl.vport_transact(&VportRequest {
                cmd: cmd::SET,
                dp_ifindex: self.dp_ifindex,
                port_no: Some(port.port_no),
                upcall_pids: Some(pids),
                ..VportRequest::default()
            })?;
        }
        Ok(())
    }

    /// Sets the size of the masks cache (rounded up to a power of two, 0
    /// turns it off); returns the size the kernel took. The request keeps
    /// the user features: a SET without them would clear them.
    pub fn set_masks_cache_size(&mut self, size: u32) -> Result<u32> {
        let size = if size <= 1 {
            size
        } else {
            size.checked_next_power_of_two().unwrap_or(1 << 31)
        };
        let info = self.nl.dp_transact(&DpRequest {
            cmd: cmd::SET,
            dp_ifindex: self.dp_ifindex,
            name: Some(&self.name),
            user_features: Some(self.user_features),
            masks_cache_size: Some(size),
            ..DpRequest::default()
        })?;
        match info.masks_cache_size {
            Some(s) if s == size => Ok(s),
            _ => Err(DpifError::from_errno(libc::EINVAL)),
        }
    }

    /// Installs or changes many flows with few round trips; one result per
    /// flow, in order (as [`Dpif::flow_put`] would give each).
    pub fn flow_put_batch(&mut self, puts: &[FlowPut<'_>]) -> Vec<Result<Option<FlowStats>>> {
        let reqs: Vec<FlowRequest<'_>> = puts.iter().map(|p| self.put_request(p)).collect();
        self.nl
            .flow_transact_batch(&reqs)
            .into_iter()
            .zip(puts)
            .map(|(r, p)| {
                r.map(|reply| {
                    if p.flags.modify {
                        reply.map(|f| f.stats)
                    } else {
                        None
                    }
                })
            })
            .collect()
    }

    /// Deletes many flows with few round trips; each one's final statistics.
    pub fn flow_del_batch(&mut self, ids: &[FlowId<'_>]) -> Vec<Result<FlowStats>> {
        let reqs: Vec<FlowRequest<'_>> = ids
            .iter()
            .map(|id| flow_id_request(self.dp_ifindex, cmd::DEL, *id))
            .collect();
        self.nl
            .flow_transact_batch(&reqs)
            .into_iter()
            .map(|r| r.map(|f| f.map(|f| f.stats).unwrap_or_default()))
            .collect()
    }

    /// The request for a flow put, with the command and flags Open vSwitch
    /// uses: NEW when creation is allowed (with NLM_F_CREATE unless an
    /// existing flow may be modified, so that the kernel then answers
    /// EEXIST), SET to modify only.
    fn put_request<'a>(&self, put: &FlowPut<'a>) -> FlowRequest<'a> {
        FlowRequest {
            cmd: if put.flags.create { cmd::NEW } else { cmd::SET },
            dp_ifindex: self.dp_ifindex,
            nl_flags: if put.flags.modify {
                0
            } else {
                netlink_packet_core::NLM_F_CREATE
            },
            key: Some(put.key),
            // No mask attribute at all means an exact-match flow.
            mask: (!put.mask.is_empty()).then_some(put.mask),
            actions: Some(put.actions),
            ufid: put.ufid,
            clear: put.flags.zero_stats,
            ..FlowRequest::default()
        }
    }

    /// A port with everything the kernel reports (stats, upcall pids, ...).
    pub fn vport_get(&mut self, port_no: OdpPort) -> Result<VportInfo> {
        self.nl.vport_transact(&VportRequest {
            cmd: cmd::GET,
            dp_ifindex: self.dp_ifindex,
            port_no: Some(port_no),
            ..VportRequest::default()
        })
    }

    /// Every port with everything the kernel reports.
    pub fn vport_dump(&mut self) -> Result<Vec<VportInfo>> {
        self.nl.vport_dump(self.dp_ifindex)
    }
}

/// The number of CPUs the kernel may run on (what per-CPU dispatch indexes).
fn possible_cpus() -> usize {
    // "0-3" or "0,2-5": the highest CPU number plus one.
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| {
            s.trim()
                .split([',', '-'])
                .filter_map(|n| n.parse::<usize>().ok())
                .max()
        })
        .map(|max| max + 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn flow_id_request<'a>(dp_ifindex: i32, command: u8, id: FlowId<'a>) -> FlowRequest<'a> {
    let mut req = FlowRequest {
        cmd: command,
        dp_ifindex,
        ..FlowRequest::default()
    };
    match id {
        FlowId::Key(k) => req.key = Some(k),
        FlowId::Ufid(u) => req.ufid = Some(u),
    }
    req
}

impl Dpif for NetlinkDpif {
    fn name(&self) -> &str {
        &self.name
    }

    fn dp_type(&self) -> &str {
        "system"
    }

    /// The kernel module's features as ferrovs uses them (see
    /// [`Support::FERROVS`]): its tunnel vports encapsulate (no
    /// `tnl_push`/`tnl_pop`), the hash algorithm is probed, and it gives
    /// the original IPv4 tuple, which translation matches. What else
    /// translation relies on is assumed (every kernel from 4.19 on has
    /// it).
    fn support(&self) -> Support {
        Support {
            max_hash_alg: self.max_hash_alg as usize,
            ct_orig_tuple: true,
            ..Support::FERROVS
        }
    }

    fn destroy(&mut self) -> Result<()> {
        self.nl.dp_execute(&DpRequest {
            cmd: cmd::DEL,
            dp_ifindex: self.dp_ifindex,
            ..DpRequest::default()
        })
    }

    fn stats(&mut self) -> Result<DpStats> {
        let info = self.info()?;
        let mut stats = info.stats;
        if !info.has_megaflow_stats {
            stats.n_masks = u32::MAX;
        }
        Ok(stats)
    }

    fn port_add(&mut self, spec: &PortSpec) -> Result<OdpPort> {
        let t = spec.port_type.as_str();
        if matches!(t, "vxlan" | "geneve" | "gre") {
            match self.tunnel_port_add(spec) {
                Err(e) if e.errno == libc::EOPNOTSUPP => {} // try the vport types
                other => return other,
            }
        }
        let (kind, options) = match t {
            "" | "system" | "tap" => (vport_type::NETDEV, None),
            "internal" => (vport_type::INTERNAL, None),
            "vxlan" | "geneve" | "gre" => tunnel::compat_vport(spec)?,
            other => {
                return Err(DpifError::new(
                    libc::EOPNOTSUPP,
                    format!(
                        "{}: port type {other} is not supported by the kernel datapath",
                        spec.name
                    ),
                ))
            }
        };
        let pids = self.port_upcall_pids.clone();
        let reply = self.nl.vport_transact(&VportRequest {
            cmd: cmd::NEW,
            dp_ifindex: self.dp_ifindex,
            port_no: spec.port_no,
            vport_type: Some(kind),
            name: Some(&spec.name),
            upcall_pids: Some(&pids),
            options: options.as_deref(),
        });
        match reply {
            Ok(info) => Ok(info.port_no),
            Err(e) => {
                if let (libc::EBUSY, Some(no)) = (e.errno, spec.port_no) {
                    log::info!(target: "dpif_netlink", "{}: requested port {no} is in use", self.full_name());
                }
                log::warn!(
                    target: "dpif",
                    "{}: failed to add {} as port: {}",
                    self.full_name(),
                    spec.name,
                    super::strerror(e.errno)
                );
                Err(e)
            }
        }
    }

    fn port_del(&mut self, port_no: OdpPort) -> Result<()> {
        // A tunnel port's device goes with it, as Open vSwitch does.
        let tunnel_device = self
            .vport_get(port_no)
            .ok()
            .filter(|v| {
                v.vport_type == vport_type::NETDEV
                    && tunnel::TUNNEL_PORT_TYPES.contains(&port_type(v).as_str())
            })
            .map(|v| v.name);
        let result = self
            .nl
            .vport_transact(&VportRequest {
                cmd: cmd::DEL,
                dp_ifindex: self.dp_ifindex,
                port_no: Some(port_no),
                ..VportRequest::default()
            })
            .map(|_| ())
            .inspect_err(|e| {
                log::warn!(
                    target: "dpif",
                    "{}: port_del failed ({})",
                    self.full_name(),
                    super::strerror(e.errno)
                )
            });
        if let (Ok(()), Some(name)) = (&result, tunnel_device) {
            let _ = rtnl::delete(&name);
        }
        result
    }

    fn port_query_by_name(&mut self, name: &str) -> Result<DpifPort> {
        let v = self.nl.vport_transact(&VportRequest {
            cmd: cmd::GET,
            dp_ifindex: self.dp_ifindex,
            name: Some(name),
            ..VportRequest::default()
        })?;
        Ok(to_dpif_port(&v))
    }

    fn port_query_by_number(&mut self, port_no: OdpPort) -> Result<DpifPort> {
        Ok(to_dpif_port(&self.vport_get(port_no)?))
    }

    fn port_dump(&mut self) -> Result<Vec<DpifPort>> {
        Ok(self.vport_dump()?.iter().map(to_dpif_port).collect())
    }

    fn flow_put(&mut self, put: &FlowPut<'_>) -> Result<Option<FlowStats>> {
        let reply = self.nl.flow_transact(&self.put_request(put))?;
        // The kernel echoes the flow with its statistics from before.
        Ok(if put.flags.modify {
            reply.map(|f| f.stats)
        } else {
            None
        })
    }

    fn flow_get(&mut self, id: FlowId<'_>) -> Result<DpFlow> {
        self.nl
            .flow_transact(&flow_id_request(self.dp_ifindex, cmd::GET, id))?
            .ok_or_else(|| DpifError::new(libc::EPROTO, "the kernel did not describe the flow"))
    }

    fn flow_del(&mut self, id: FlowId<'_>) -> Result<FlowStats> {
        Ok(self
            .nl
            .flow_transact(&flow_id_request(self.dp_ifindex, cmd::DEL, id))?
            .map(|f| f.stats)
            .unwrap_or_default())
    }

    fn flow_flush(&mut self) -> Result<()> {
        // A delete that names no flow empties the table.
        self.nl
            .flow_transact(&FlowRequest {
                cmd: cmd::DEL,
                dp_ifindex: self.dp_ifindex,
                ..FlowRequest::default()
            })
            .map(|_| ())
    }

    fn flow_dump(&mut self) -> Result<Vec<DpFlow>> {
        self.nl.flow_dump_all(self.dp_ifindex, 0)
    }

    fn flow_dump_stats(&mut self) -> Result<Vec<(Ufid, FlowStats)>> {
        // The kernel leaves keys, masks and actions out of the replies of
        // flows that have a UFID (and only of those).
        let omit = ufid_flags::OMIT_KEY | ufid_flags::OMIT_MASK | ufid_flags::OMIT_ACTIONS;
        Ok(self
            .nl
            .flow_dump_all(self.dp_ifindex, omit)?
            .into_iter()
            .filter_map(|f| Some((f.ufid?, f.stats)))
            .collect())
    }

    fn execute(&mut self, exec: &Execute<'_>) -> Result<()> {
        self.nl.packet_execute(self.dp_ifindex, exec)
    }
}
