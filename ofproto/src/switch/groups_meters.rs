//! The group and meter tables.

use super::*;

impl Switch {
    /// Number of rules whose actions name group `g`.
    pub(crate) fn group_refs(&self, g: u32) -> u32 {
        self.tables
            .iter()
            .map(|t| {
                t.iter()
                    .filter(|(_, _, r)| r.instructions.outputs_to_group(g))
                    .count() as u32
            })
            .sum()
    }

    pub(crate) fn group_mod(&mut self, gm: groups::GroupMod) -> Result<(), OfpErr> {
        let id = gm.group.id;
        let check = |g: &Group| -> Result<(), OfpErr> {
            if g.id > groups::MAX_ID {
                return Err(OfpErr::OFPGMFC_INVALID_GROUP);
            }
            if g.group_type > 3 {
                return Err(OfpErr::OFPGMFC_BAD_TYPE);
            }
            Ok(())
        };
        let now = Instant::now();
        match gm.command {
            0 => {
                check(&gm.group)?;
                if self.groups.contains_key(&id) {
                    return Err(OfpErr::OFPGMFC_GROUP_EXISTS);
                }
                self.groups.insert(id, (gm.group, now));
            }
            1 | 0x8000 => {
                check(&gm.group)?;
                let created = match self.groups.get(&id) {
                    Some((_, c)) => *c,
                    None if gm.command == 0x8000 => now,
                    None => return Err(OfpErr::OFPGMFC_UNKNOWN_GROUP),
                };
                self.groups.insert(id, (gm.group, created));
            }
            2 => {
                let ids: Vec<u32> = if id == groups::ALL {
                    self.groups.keys().copied().collect()
                } else {
                    vec![id]
                };
                for g in ids {
                    if self.groups.remove(&g).is_some() {
                        // Rules that use a deleted group go with it.
                        self.remove_rules(
                            |r| {
                                r.instructions
                                    .outputs_to_group(g)
                                    .then_some(RemovedReason::GroupDelete)
                            },
                            now,
                        );
                    }
                }
            }
            3 | 5 => {
                let Some((old, _)) = self.groups.get_mut(&id) else {
                    return Err(OfpErr::OFPGMFC_UNKNOWN_GROUP);
                };
                const FIRST: u32 = 0xffff_fffd;
                const LAST: u32 = 0xffff_fffe;
                let pos = |b: &[groups::Bucket], which: u32| match which {
                    FIRST => Some(0),
                    LAST => Some(b.len()),
                    id => b.iter().position(|x| x.id == id),
                };
                if gm.command == 3 {
                    if gm
                        .group
                        .buckets
                        .iter()
                        .any(|nb| old.buckets.iter().any(|b| b.id == nb.id))
                    {
                        return Err(OfpErr::OFPGMFC_BUCKET_EXISTS);
                    }
                    let at = pos(&old.buckets, gm.command_bucket_id)
                        .ok_or(OfpErr::OFPGMFC_UNKNOWN_BUCKET)?;
                    for (i, b) in gm.group.buckets.into_iter().enumerate() {
                        old.buckets.insert(at + i, b);
                    }
                } else if gm.command_bucket_id == groups::ANY {
                    old.buckets.clear();
                } else {
                    let at = match gm.command_bucket_id {
                        FIRST if !old.buckets.is_empty() => 0,
                        LAST if !old.buckets.is_empty() => old.buckets.len() - 1,
                        which => pos(&old.buckets, which)
                            .filter(|&i| i < old.buckets.len())
                            .ok_or(OfpErr::OFPGMFC_UNKNOWN_BUCKET)?,
                    };
                    old.buckets.remove(at);
                }
            }
            _ => return Err(OfpErr::OFPGMFC_BAD_COMMAND),
        }
        Ok(())
    }

    /// Number of rules metered by meter `m`.
    pub(crate) fn meter_refs(&self, m: u32) -> u32 {
        self.tables
            .iter()
            .map(|t| {
                t.iter()
                    .filter(|(_, _, r)| r.instructions.meter == Some(m))
                    .count() as u32
            })
            .sum()
    }

    pub(crate) fn meter_mod(&mut self, mm: meters::MeterMod) -> Result<(), OfpErr> {
        let id = mm.meter.id;
        let now = Instant::now();
        match mm.command {
            0 => {
                if self.meters.contains_key(&id) {
                    return Err(OfpErr::OFPMMFC_METER_EXISTS);
                }
                meters::datapath_check(&mm.meter)?;
                self.meters.insert(id, (mm.meter, now));
            }
            1 => {
                let Some((_, created)) = self.meters.get(&id) else {
                    return Err(OfpErr::OFPMMFC_UNKNOWN_METER);
                };
                let created = *created;
                meters::datapath_check(&mm.meter)?;
                self.meters.insert(id, (mm.meter, created));
            }
            _ => {
                let ids: Vec<u32> = if id == meters::ID_ALL {
                    self.meters.keys().copied().collect()
                } else {
                    vec![id]
                };
                for m in ids {
                    if self.meters.remove(&m).is_some() {
                        // Rules that use a deleted meter go with it.
                        self.remove_rules(
                            |r| {
                                (r.instructions.meter == Some(m))
                                    .then_some(RemovedReason::MeterDelete)
                            },
                            now,
                        );
                    }
                }
            }
        }
        Ok(())
    }
}
