//! The dummy datapath: ports without kernel objects, flows kept in memory.
//!
//! It stands in for a real datapath in tests and sandboxes (`--enable-dummy`),
//! the way Open vSwitch's `dummy@ovs-dummy` does. It numbers ports the way
//! that one does, so that test scripts written against stock Open vSwitch
//! see the same port numbers: a port whose name contains a digit asks for the
//! number written there (plus 100 when the name starts with `br`), otherwise
//! it gets the lowest free number. Port 0 is the datapath's own internal port.
//!
//! It forwards nothing: `execute` checks the request and counts nothing, and
//! no upcalls are ever produced.

use std::collections::{BTreeMap, HashMap};

use crate::{
    DpFlow, DpStats, Dpif, DpifError, DpifPort, Execute, FlowId, FlowPut, FlowStats, OdpPort,
    PortSpec, Result, Ufid,
};

/// The highest port number the dummy datapath hands out (`UINT16_MAX`).
const MAX_PORT_NO: OdpPort = u16::MAX as OdpPort;
/// `ODPP_NONE`: never a valid port number.
const ODPP_NONE: OdpPort = u32::MAX;

/// A flow as stored: identified by UFID when the caller gave one, else by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FlowSlot {
    Ufid(Ufid),
    Key(Vec<u8>),
}

/// One dummy datapath (`dummy@NAME`).
#[derive(Debug)]
pub struct DummyDpif {
    name: String,
    dp_type: String,
    ports: BTreeMap<OdpPort, DpifPort>,
    flows: HashMap<FlowSlot, DpFlow>,
    stats: DpStats,
}

impl DummyDpif {
    /// Creates a datapath named `name` (stock uses `ovs-dummy`), with its
    /// local port 0 of the same name.
    pub fn new(name: &str) -> Self {
        Self::with_type(name, "dummy")
    }

    /// Creates a dummy datapath that reports `dp_type` as its type, the way
    /// `--enable-dummy=override` stands a dummy datapath in for another
    /// type.
    pub fn with_type(name: &str, dp_type: &str) -> Self {
        let mut ports = BTreeMap::new();
        ports.insert(
            0,
            DpifPort {
                name: name.to_string(),
                port_type: "dummy-internal".to_string(),
                port_no: 0,
            },
        );
        DummyDpif {
            name: name.to_string(),
            dp_type: dp_type.to_string(),
            ports,
            flows: HashMap::new(),
            stats: DpStats::default(),
        }
    }

    /// The type a port of Interface type `iface_type` has inside this
    /// datapath: internal devices are dummy devices here.
    pub fn port_type_for(iface_type: &str) -> String {
        match iface_type {
            "internal" | "" => "dummy-internal".to_string(),
            other => other.to_string(),
        }
    }

    /// Picks a port number for `name` as stock's dummy datapath does.
    fn choose_port(&self, name: &str) -> Option<OdpPort> {
        let start: u64 = if name.starts_with("br") { 100 } else { 0 };
        if let Some(pos) = name.find(|c: char| c.is_ascii_digit()) {
            let digits: String = name[pos..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            // Saturate instead of overflowing; an absurd number just fails
            // the range check below.
            let n = digits
                .parse::<u64>()
                .unwrap_or(u64::MAX)
                .saturating_add(start);
            if n > 0 && n < u64::from(ODPP_NONE) {
                let n = n as OdpPort;
                if !self.ports.contains_key(&n) {
                    return Some(n);
                }
            }
        }
        (1..=MAX_PORT_NO).find(|n| !self.ports.contains_key(n))
    }

    fn slot_of(id: FlowId<'_>) -> FlowSlot {
        match id {
            FlowId::Ufid(u) => FlowSlot::Ufid(u),
            FlowId::Key(k) => FlowSlot::Key(k.to_vec()),
        }
    }

    /// Finds a flow by UFID or by key, whichever the caller names.
    fn find_slot(&self, id: FlowId<'_>) -> Option<FlowSlot> {
        let direct = Self::slot_of(id);
        if self.flows.contains_key(&direct) {
            return Some(direct);
        }
        if let FlowId::Key(k) = id {
            return self
                .flows
                .iter()
                .find(|(_, f)| f.key == k)
                .map(|(s, _)| s.clone());
        }
        None
    }
}

impl Dpif for DummyDpif {
    fn name(&self) -> &str {
        &self.name
    }

    fn dp_type(&self) -> &str {
        &self.dp_type
    }

    fn destroy(&mut self) -> Result<()> {
        self.ports.clear();
        self.flows.clear();
        Ok(())
    }

    fn stats(&mut self) -> Result<DpStats> {
        let mut s = self.stats;
        s.n_flows = self.flows.len() as u64;
        Ok(s)
    }

    fn port_add(&mut self, spec: &PortSpec) -> Result<OdpPort> {
        if spec.name.is_empty() {
            return Err(DpifError::new(libc::EINVAL, "port name is empty"));
        }
        if self.ports.values().any(|p| p.name == spec.name) {
            return Err(DpifError::new(
                libc::EEXIST,
                format!("{}: port already exists in {}", spec.name, self.name),
            ));
        }
        let port_no = match spec.port_no {
            Some(n) if self.ports.contains_key(&n) => {
                return Err(DpifError::new(
                    libc::EBUSY,
                    format!("port number {n} is already in use"),
                ))
            }
            Some(n) if n == ODPP_NONE => {
                return Err(DpifError::new(libc::EINVAL, "invalid port number"))
            }
            Some(n) => n,
            None => self
                .choose_port(&spec.name)
                .ok_or_else(|| DpifError::new(libc::EFBIG, "no free port number"))?,
        };
        self.ports.insert(
            port_no,
            DpifPort {
                name: spec.name.clone(),
                port_type: Self::port_type_for(&spec.port_type),
                port_no,
            },
        );
        Ok(port_no)
    }

    fn port_del(&mut self, port_no: OdpPort) -> Result<()> {
        if port_no == 0 {
            return Err(DpifError::new(
                libc::EINVAL,
                "cannot delete the datapath's local port",
            ));
        }
        self.ports
            .remove(&port_no)
            .map(|_| ())
            .ok_or_else(|| DpifError::from_errno(libc::ENOENT))
    }

    fn port_query_by_name(&mut self, name: &str) -> Result<DpifPort> {
        self.ports
            .values()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| DpifError::from_errno(libc::ENODEV))
    }

    fn port_query_by_number(&mut self, port_no: OdpPort) -> Result<DpifPort> {
        self.ports
            .get(&port_no)
            .cloned()
            .ok_or_else(|| DpifError::from_errno(libc::ENODEV))
    }

    fn port_dump(&mut self) -> Result<Vec<DpifPort>> {
        Ok(self.ports.values().cloned().collect())
    }

    fn flow_put(&mut self, put: &FlowPut<'_>) -> Result<Option<FlowStats>> {
        let id = match put.ufid {
            Some(u) => FlowId::Ufid(u),
            None => FlowId::Key(put.key),
        };
        match self.find_slot(id) {
            Some(slot) => {
                if !put.flags.modify {
                    return Err(DpifError::from_errno(libc::EEXIST));
                }
                let Some(flow) = self.flows.get_mut(&slot) else {
                    return Err(DpifError::from_errno(libc::ENOENT));
                };
                let old = flow.stats;
                flow.mask = put.mask.to_vec();
                flow.actions = put.actions.to_vec();
                if put.flags.zero_stats {
                    flow.stats = FlowStats::default();
                }
                Ok(Some(old))
            }
            None => {
                if !put.flags.create {
                    return Err(DpifError::from_errno(libc::ENOENT));
                }
                self.flows.insert(
                    Self::slot_of(id),
                    DpFlow {
                        key: put.key.to_vec(),
                        mask: put.mask.to_vec(),
                        actions: put.actions.to_vec(),
                        ufid: put.ufid,
                        stats: FlowStats::default(),
                    },
                );
                Ok(None)
            }
        }
    }

    fn flow_get(&mut self, id: FlowId<'_>) -> Result<DpFlow> {
        self.find_slot(id)
            .and_then(|s| self.flows.get(&s).cloned())
            .ok_or_else(|| DpifError::from_errno(libc::ENOENT))
    }

    fn flow_del(&mut self, id: FlowId<'_>) -> Result<FlowStats> {
        self.find_slot(id)
            .and_then(|s| self.flows.remove(&s))
            .map(|f| f.stats)
            .ok_or_else(|| DpifError::from_errno(libc::ENOENT))
    }

    fn flow_flush(&mut self) -> Result<()> {
        self.flows.clear();
        Ok(())
    }

    fn flow_dump(&mut self) -> Result<Vec<DpFlow>> {
        Ok(self.flows.values().cloned().collect())
    }

    fn execute(&mut self, exec: &Execute<'_>) -> Result<()> {
        if exec.packet.len() < 14 {
            return Err(DpifError::new(
                libc::EINVAL,
                "packet shorter than an Ethernet header",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PutFlags;

    fn spec(name: &str, t: &str) -> PortSpec {
        PortSpec {
            name: name.into(),
            port_type: t.into(),
            port_no: None,
            options: vec![],
        }
    }

    #[test]
    fn numbers_ports_like_stock_dummy_datapath() {
        let mut dp = DummyDpif::new("ovs-dummy");
        assert_eq!(dp.port_add(&spec("br0", "internal")).unwrap(), 100);
        assert_eq!(dp.port_add(&spec("p1", "dummy")).unwrap(), 1);
        assert_eq!(dp.port_add(&spec("vxlan_sys_4789", "vxlan")).unwrap(), 4789);
        // "tap1" wants 1, which is taken: lowest free instead.
        assert_eq!(dp.port_add(&spec("tap1", "tap")).unwrap(), 2);
        assert_eq!(dp.port_add(&spec("gre_sys", "gre")).unwrap(), 3);
        let p = dp.port_query_by_name("br0").unwrap();
        assert_eq!((p.port_no, p.port_type.as_str()), (100, "dummy-internal"));
        assert!(dp.port_add(&spec("p1", "dummy")).is_err());
        dp.port_del(1).unwrap();
        assert!(dp.port_query_by_number(1).is_err());
        assert_eq!(dp.port_del(1).unwrap_err().errno, libc::ENOENT);
        assert!(dp.port_del(0).is_err());
        // A huge number in the name does not overflow.
        assert_eq!(
            dp.port_add(&spec("p99999999999999999999999", "dummy"))
                .unwrap(),
            1
        );
    }

    #[test]
    fn stores_dumps_and_deletes_flows() {
        let mut dp = DummyDpif::new("ovs-dummy");
        let create = PutFlags {
            create: true,
            ..Default::default()
        };
        let put = FlowPut {
            flags: create,
            key: &[1, 2, 3],
            mask: &[0xff],
            actions: &[9],
            ufid: Some(7),
        };
        assert_eq!(dp.flow_put(&put).unwrap(), None);
        assert_eq!(dp.flow_put(&put).unwrap_err().errno, libc::EEXIST);
        let modify = FlowPut {
            flags: PutFlags {
                modify: true,
                ..Default::default()
            },
            actions: &[10],
            ..put.clone()
        };
        assert!(dp.flow_put(&modify).unwrap().is_some());
        assert_eq!(
            dp.flow_get(FlowId::Key(&[1, 2, 3])).unwrap().actions,
            vec![10]
        );
        assert_eq!(dp.flow_dump().unwrap().len(), 1);
        assert_eq!(dp.stats().unwrap().n_flows, 1);
        dp.flow_del(FlowId::Ufid(7)).unwrap();
        assert!(dp.flow_get(FlowId::Ufid(7)).is_err());
        dp.flow_put(&put).unwrap();
        dp.flow_flush().unwrap();
        assert!(dp.flow_dump().unwrap().is_empty());
    }
}
