//! Per-table settings: TABLE_MOD and table names.

use super::*;

/// A table's TABLE_MOD settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableConfig {
    /// The Flow_Table name ("" for none).
    pub name: String,
    /// Table-miss behaviour as Open vSwitch numbers it internally: 0
    /// default, 1 controller, 2 continue, 3 drop.
    pub miss: u32,
    /// OFPTC_EVICTION from a table-mod.
    pub eviction: bool,
    /// Eviction asked by the Flow_Table row (`overflow_policy=evict`).
    pub evict_client: bool,
    /// The Flow_Table `flow_limit` (None: no limit).
    pub max_flows: Option<u32>,
    /// The Flow_Table `groups`: the fields eviction groups rules by.
    pub eviction_fields: Vec<EvictionField>,
    /// Vacancy events: (vacancy_down, vacancy_up) percentages when on.
    pub vacancy: Option<(u8, u8)>,
}

/// The eviction flags Open vSwitch reports: other, importance, lifetime.
pub(crate) const EVICTION_FLAGS: u32 = 0x7;

impl Switch {
    /// TABLE_MOD: table-miss behaviour (OpenFlow 1.1/1.2), eviction and
    /// vacancy events (1.4+).
    pub(crate) fn table_mod(&mut self, v: u8, body: &[u8]) -> Res {
        let e = OfpErr::OFPBRC_BAD_LEN;
        let mut r = Reader::new(body);
        let table_id = r.u8().ok_or(e)?;
        r.skip(3).ok_or(e)?;
        let config = r.u32().ok_or(e)?;
        let mut miss = None;
        let (mut eviction, mut vacancy) = (None, None);
        if v == 2 || v == 3 {
            // OFPTC11_TABLE_MISS_{CONTROLLER,CONTINUE,DROP}; 3 is invalid
            // and reads as controller.
            miss = Some(match config & 3 {
                1 => 2,
                2 => 3,
                _ => 1,
            });
        } else if v >= 5 {
            eviction = Some(config & 4 != 0);
            let on = config & 8 != 0;
            vacancy = Some(if on { Some((0u8, 0u8)) } else { None });
            while !r.is_empty() {
                let ty = r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                let len = r.u16().ok_or(OfpErr::OFPBPC_BAD_LEN)? as usize;
                if len < 4 || len.div_ceil(8) * 8 - 4 > r.len() {
                    return Err(OfpErr::OFPBRC_BAD_LEN);
                }
                let mut p = Reader::new(r.bytes(len - 4).ok_or(OfpErr::OFPBPC_BAD_LEN)?);
                r.skip((8 - len % 8) % 8).ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                match ty {
                    2 => {
                        if len != 8 {
                            return Err(OfpErr::OFPBPC_BAD_LEN);
                        }
                        // Stock reads this property into the eviction
                        // setting itself (1 on, 2 off), not the flags.
                        match p.u32().ok_or(OfpErr::OFPBPC_BAD_LEN)? {
                            0 => {}
                            1 => eviction = Some(true),
                            _ => eviction = Some(false),
                        }
                    }
                    3 => {
                        if len != 8 {
                            return Err(OfpErr::OFPBPC_BAD_LEN);
                        }
                        let down = p.u8().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                        let up = p.u8().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                        let cur = p.u8().ok_or(OfpErr::OFPBPC_BAD_LEN)?;
                        if down > up || up > 100 || cur != 0 {
                            return Err(OfpErr::OFPBPC_BAD_VALUE);
                        }
                        if on {
                            vacancy = Some(Some((down, up)));
                        }
                    }
                    _ => return Err(OfpErr::OFPBRC_BAD_TYPE),
                }
            }
        }
        if table_id != 0xff && table_id > N_TABLES {
            return Err(OfpErr::OFPTMFC_BAD_TABLE);
        }
        if table_id == N_TABLES {
            return Err(OfpErr::OFPTMFC_EPERM);
        }
        let tables = if table_id == 0xff {
            0..N_TABLES as usize
        } else {
            table_id as usize..table_id as usize + 1
        };
        for t in tables {
            let cfg = &mut self.table_cfg[t];
            if let Some(m) = miss {
                cfg.miss = m;
            }
            if let Some(ev) = eviction {
                cfg.eviction = ev;
            }
            if let Some(va) = vacancy {
                cfg.vacancy = va;
            }
        }
        self.update_table_misses();
        self.evict_over_limit();
        Ok(vec![])
    }

    /// The table-miss behaviour of each table (Open vSwitch's internal
    /// numbers, see `TableConfig::miss`) up to the last that is not the
    /// default: usually none.
    pub fn table_misses(&self) -> &[u32] {
        debug_assert_eq!(self.table_misses, Self::scan_table_misses(&self.table_cfg));
        &self.table_misses
    }

    fn scan_table_misses(cfg: &[TableConfig]) -> Vec<u32> {
        let n = cfg.iter().rposition(|c| c.miss != 0).map_or(0, |i| i + 1);
        cfg[..n].iter().map(|c| c.miss).collect()
    }

    fn update_table_misses(&mut self) {
        self.table_misses = Self::scan_table_misses(&self.table_cfg);
    }
}
