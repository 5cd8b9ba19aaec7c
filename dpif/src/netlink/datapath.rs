//! The `ovs_datapath` family: create, delete, get, set and dump datapaths.

use super::attrs::{split_ovs_header, stat_u64, AttrWriter, Attrs};
use super::consts::{cmd, dp_attr, family};
use super::socket::GenlBody;
use super::Netlink;
use crate::{DpStats, Result};

/// A request of the `ovs_datapath` family. A datapath is named either by
/// `dp_ifindex` or, when that is 0, by `name`.
#[derive(Debug, Clone, Default)]
pub struct DpRequest<'a> {
    pub cmd: u8,
    pub dp_ifindex: i32,
    pub name: Option<&'a str>,
    /// The datapath-wide upcall port (0: none; used before per-vport PIDs).
    pub upcall_pid: Option<u32>,
    pub user_features: Option<u32>,
    /// Upcall port per CPU, for OVS_DP_F_DISPATCH_UPCALL_PER_CPU.
    pub per_cpu_pids: Option<&'a [u32]>,
    pub masks_cache_size: Option<u32>,
}

/// A datapath as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DpInfo {
    pub dp_ifindex: i32,
    pub name: String,
    pub user_features: u32,
    pub stats: DpStats,
    /// Megaflow counters were reported (kernels since 3.12).
    pub has_megaflow_stats: bool,
    pub n_cache_hit: Option<u64>,
    pub masks_cache_size: Option<u32>,
}

impl DpRequest<'_> {
    fn encode(&self) -> Result<Vec<u8>> {
        let mut w = AttrWriter::with_ovs_header(self.dp_ifindex);
        if let Some(name) = self.name {
            w.put_str(dp_attr::NAME, name);
        }
        if let Some(pid) = self.upcall_pid {
            w.put_u32(dp_attr::UPCALL_PID, pid);
        }
        if let Some(f) = self.user_features {
            w.put_u32(dp_attr::USER_FEATURES, f);
        }
        if let Some(pids) = self.per_cpu_pids {
            w.put_u32s(dp_attr::PER_CPU_PIDS, pids);
        }
        if let Some(size) = self.masks_cache_size {
            w.put_u32(dp_attr::MASKS_CACHE_SIZE, size);
        }
        w.finish()
    }
}

impl DpInfo {
    pub fn parse(body: &GenlBody) -> Result<Self> {
        let (dp_ifindex, rest) = split_ovs_header(&body.bytes)?;
        let a = Attrs::parse(rest)?;
        let mut info = DpInfo {
            dp_ifindex,
            name: a
                .string(dp_attr::NAME, "datapath name")?
                .unwrap_or_default(),
            user_features: a.u32(dp_attr::USER_FEATURES, "user features")?.unwrap_or(0),
            masks_cache_size: a.u32(dp_attr::MASKS_CACHE_SIZE, "masks cache size")?,
            ..DpInfo::default()
        };
        if let Some(s) = a.get(dp_attr::STATS) {
            info.stats.n_hit = stat_u64(s, 0);
            info.stats.n_missed = stat_u64(s, 1);
            info.stats.n_lost = stat_u64(s, 2);
            info.stats.n_flows = stat_u64(s, 3);
        }
        if let Some(m) = a.get(dp_attr::MEGAFLOW_STATS) {
            // struct ovs_dp_megaflow_stats: u64 n_mask_hit, u32 n_masks,
            // u32 pad, u64 n_cache_hit, u64 pad.
            info.has_megaflow_stats = true;
            info.stats.n_mask_hit = stat_u64(m, 0);
            info.stats.n_masks = m
                .get(8..12)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_ne_bytes)
                .unwrap_or(0);
            if m.len() >= 24 {
                info.n_cache_hit = Some(stat_u64(m, 2));
            }
        }
        Ok(info)
    }
}

impl Netlink {
    /// Sends a datapath request and returns the datapath the kernel echoes.
    pub fn dp_transact(&mut self, req: &DpRequest<'_>) -> Result<DpInfo> {
        let request = self.request(
            self.families.datapath,
            family::DATAPATH_VERSION,
            req.cmd,
            req.encode()?,
        );
        let reply = self.sock.transact(&request)?;
        match reply {
            Some(body) => DpInfo::parse(&body),
            None => Err(crate::DpifError::new(
                libc::EPROTO,
                "the kernel did not describe the datapath",
            )),
        }
    }

    /// Sends a datapath request that needs no reply (e.g. delete).
    pub fn dp_execute(&mut self, req: &DpRequest<'_>) -> Result<()> {
        let request = self.request(
            self.families.datapath,
            family::DATAPATH_VERSION,
            req.cmd,
            req.encode()?,
        );
        self.sock.transact(&request).map(|_| ())
    }

    /// Every datapath of the kernel.
    pub fn dp_dump(&mut self) -> Result<Vec<DpInfo>> {
        let req = DpRequest {
            cmd: cmd::GET,
            ..DpRequest::default()
        };
        let request = self.request(
            self.families.datapath,
            family::DATAPATH_VERSION,
            cmd::GET,
            req.encode()?,
        );
        self.sock
            .dump(&request)?
            .iter()
            .map(DpInfo::parse)
            .collect()
    }

    /// One datapath by name.
    pub fn dp_get(&mut self, name: &str) -> Result<DpInfo> {
        self.dp_transact(&DpRequest {
            cmd: cmd::GET,
            name: Some(name),
            ..DpRequest::default()
        })
    }
}
