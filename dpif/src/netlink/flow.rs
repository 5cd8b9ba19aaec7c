//! The `ovs_flow` family: install, change, read, delete and dump flows.
//! Keys, masks and actions are netlink attribute streams, passed through.

use super::attrs::{split_ovs_header, stat_u64, AttrWriter, Attrs};
use super::consts::{cmd, family, flow_attr};
use super::socket::GenlBody;
use super::Netlink;
use crate::odp::{ufid_from_bytes, ufid_to_bytes};
use crate::{DpFlow, DpifError, FlowStats, Result, Ufid};

/// A request of the `ovs_flow` family.
#[derive(Debug, Clone, Default)]
pub struct FlowRequest<'a> {
    pub cmd: u8,
    pub dp_ifindex: i32,
    /// NLM_F_CREATE / NLM_F_REPLACE / NLM_F_EXCL for NEW and SET.
    pub nl_flags: u16,
    pub key: Option<&'a [u8]>,
    pub mask: Option<&'a [u8]>,
    pub actions: Option<&'a [u8]>,
    pub ufid: Option<Ufid>,
    /// OVS_UFID_F_*: parts of the flow the reply may leave out.
    pub ufid_flags: u32,
    /// Zero the flow's statistics (OVS_FLOW_ATTR_CLEAR).
    pub clear: bool,
    /// A feature probe: the kernel does not log failures.
    pub probe: bool,
}

impl FlowRequest<'_> {
    fn encode(&self) -> Result<Vec<u8>> {
        let mut w = AttrWriter::with_ovs_header(self.dp_ifindex);
        if let Some(ufid) = self.ufid {
            w.put(flow_attr::UFID, &ufid_to_bytes(ufid));
            if self.ufid_flags != 0 {
                w.put_u32(flow_attr::UFID_FLAGS, self.ufid_flags);
            }
        }
        if let Some(k) = self.key {
            w.put(flow_attr::KEY, k);
        }
        if let Some(m) = self.mask {
            w.put(flow_attr::MASK, m);
        }
        if let Some(a) = self.actions {
            w.put(flow_attr::ACTIONS, a);
        }
        if self.clear {
            w.put_flag(flow_attr::CLEAR);
        }
        if self.probe {
            w.put_flag(flow_attr::PROBE);
        }
        w.finish()
    }
}

/// Parses a flow message of the kernel.
pub fn parse_flow(body: &GenlBody) -> Result<DpFlow> {
    let (_, rest) = split_ovs_header(&body.bytes)?;
    let a = Attrs::parse(rest)?;
    let mut stats = FlowStats::default();
    if let Some(s) = a.get(flow_attr::STATS) {
        stats.n_packets = stat_u64(s, 0);
        stats.n_bytes = stat_u64(s, 1);
    }
    stats.used_ms = a.u64(flow_attr::USED, "flow used time")?.unwrap_or(0);
    stats.tcp_flags = a
        .u8(flow_attr::TCP_FLAGS, "flow tcp flags")?
        .map_or(0, u16::from);
    let ufid = match a.get(flow_attr::UFID) {
        None => None,
        Some(b) => Some(ufid_from_bytes(b).ok_or_else(|| {
            DpifError::new(
                libc::EPROTO,
                "malformed netlink message: UFID is not 16 bytes long",
            )
        })?),
    };
    Ok(DpFlow {
        key: a
            .get(flow_attr::KEY)
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        mask: a
            .get(flow_attr::MASK)
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        actions: a
            .get(flow_attr::ACTIONS)
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        ufid,
        stats,
    })
}

impl Netlink {
    /// Sends a flow request; returns the flow the kernel echoes, if any.
    pub fn flow_transact(&mut self, req: &FlowRequest<'_>) -> Result<Option<DpFlow>> {
        let mut request = self.request(
            self.families.flow,
            family::FLOW_VERSION,
            req.cmd,
            req.encode()?,
        );
        request.flags |= req.nl_flags;
        match self.sock.transact(&request)? {
            Some(body) => parse_flow(&body).map(Some),
            None => Ok(None),
        }
    }

    /// Several flow requests in one go (fewer round trips than one by one);
    /// one result per request, in order.
    pub fn flow_transact_batch(&mut self, reqs: &[FlowRequest<'_>]) -> Vec<Result<Option<DpFlow>>> {
        let mut requests = Vec::with_capacity(reqs.len());
        let mut encode_errors = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            match r.encode() {
                Ok(body) => {
                    let mut request =
                        self.request(self.families.flow, family::FLOW_VERSION, r.cmd, body);
                    request.flags |= r.nl_flags;
                    requests.push(request);
                }
                Err(e) => encode_errors.push((i, e)),
            }
        }
        let mut sent = self.sock.transact_batch(&requests).into_iter();
        (0..reqs.len())
            .map(|i| match encode_errors.iter().find(|(j, _)| *j == i) {
                Some((_, e)) => Err(e.clone()),
                None => match sent.next() {
                    Some(Ok(Some(body))) => parse_flow(&body).map(Some),
                    Some(Ok(None)) => Ok(None),
                    Some(Err(e)) => Err(e),
                    None => Err(DpifError::new(libc::EIO, "batch result missing")),
                },
            })
            .collect()
    }

    /// Every flow of the datapath. `ufid_flags` may ask the kernel to leave
    /// out keys, masks or actions of flows that have a UFID.
    pub fn flow_dump_all(&mut self, dp_ifindex: i32, ufid_flags: u32) -> Result<Vec<DpFlow>> {
        let mut w = AttrWriter::with_ovs_header(dp_ifindex);
        if ufid_flags != 0 {
            w.put_u32(flow_attr::UFID_FLAGS, ufid_flags);
        }
        let request = self.request(
            self.families.flow,
            family::FLOW_VERSION,
            cmd::GET,
            w.finish()?,
        );
        self.sock.dump(&request)?.iter().map(parse_flow).collect()
    }
}
