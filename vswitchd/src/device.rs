//! What an interface's device reports for the Interface status columns.
//!
//! Devices that exist only in ferrovs (dummy, internal ports of a dummy
//! datapath, tunnels and patch ports under it) report what stock's dummy
//! and vport devices report. A `system` device is a real Linux interface:
//! its facts come from sysfs (/sys/class/net/NAME).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use ferrovs_netdev::Netdev;

/// Facts for the status columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceStatus {
    pub ifindex: i64,
    pub mac: String,
    pub mtu: Option<i64>,
    pub admin_up: bool,
    pub link_up: bool,
    pub link_speed: Option<i64>,
    pub duplex: Option<String>,
    pub statistics: BTreeMap<String, i64>,
    pub status: BTreeMap<String, String>,
}

/// A datapath device whose packet counters feed the statistics column
/// (equal when it is the same device).
#[derive(Clone)]
pub struct Counters(pub Arc<dyn Netdev>);

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counters({})", self.0.name())
    }
}

impl PartialEq for Counters {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Counters {}

/// The kind of device behind an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// A device of the dummy datapath (types dummy and internal); its
    /// counters are those of the datapath's device, once attached.
    Dummy {
        mac: String,
        counters: Option<Counters>,
    },
    /// A tunnel or patch port: configuration only, no packet counters of
    /// its own beyond the basic four.
    Virtual { mac: String },
    /// A Linux network interface.
    System { name: String },
    /// A tap device the userspace datapath created for an internal or
    /// tap port: its kernel counters count from the host's side, so they
    /// are reported swapped (the switch's side), as stock does.
    Tap { name: String },
}

static DUMMY_COUNT: AtomicU32 = AtomicU32::new(0);

impl Device {
    /// A new dummy device; the MACs run aa:55:aa:55:00:01, :02, ... as
    /// stock's dummy devices do.
    pub fn new_dummy() -> Device {
        let n = DUMMY_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
        Device::Dummy {
            mac: format!("aa:55:aa:55:{:02x}:{:02x}", (n >> 8) & 0xff, n & 0xff),
            counters: None,
        }
    }

    pub fn new_virtual() -> Device {
        Device::Virtual { mac: random_mac() }
    }

    /// Opens a Linux interface; fails with stock's error text when it
    /// does not exist.
    pub fn open_system(name: &str) -> Result<Device, String> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(format!(
                "could not open network device {name} (Invalid argument)"
            ));
        }
        if sys_path(name).exists() {
            Ok(Device::System { name: name.into() })
        } else {
            Err(format!(
                "could not open network device {name} (No such device)"
            ))
        }
    }

    /// Whether the link is up (stock's `netdev_get_carrier`), read
    /// cheaply: bonds poll it.
    pub fn carrier(&self) -> bool {
        match self {
            Device::System { name } | Device::Tap { name } => read_num(name, "carrier") == Some(1),
            Device::Dummy { .. } | Device::Virtual { .. } => true,
        }
    }

    /// The device's Ethernet address, as `xx:xx:xx:xx:xx:xx`.
    pub fn mac(&self) -> String {
        match self {
            Device::Dummy { mac, .. } | Device::Virtual { mac } => mac.clone(),
            Device::System { name } | Device::Tap { name } => {
                read_sys(name, "address").unwrap_or_default()
            }
        }
    }

    /// Gives the device Ethernet address `mac` (stock's
    /// `netdev_set_etheraddr`): a dummy keeps it (and so does the
    /// datapath's device behind it), a Linux interface takes it.
    pub fn set_mac(&mut self, mac: [u8; 6]) -> std::io::Result<()> {
        match self {
            Device::Dummy { mac: m, counters } => {
                if let Some(c) = counters {
                    c.0.set_mac(mac)?;
                }
                *m = format_mac(mac);
                Ok(())
            }
            Device::System { name } | Device::Tap { name } => {
                ferrovs_netdev::dev::sys::if_set_mac(name, mac)
            }
            Device::Virtual { .. } => Err(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        }
    }

    /// Current facts.
    pub fn status(&self) -> DeviceStatus {
        match self {
            Device::Dummy { mac, counters } => {
                // Stock's dummy devices: totals, one queue's worth, and
                // two custom counters that count every received packet.
                let c = counters.as_ref().map(|c| c.0.stats()).unwrap_or_default();
                let v = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
                let statistics = [
                    ("rx_bytes", v(c.rx_bytes)),
                    ("rx_custom_packets_1", v(c.rx_packets)),
                    ("rx_custom_packets_2", v(c.rx_packets)),
                    ("rx_packets", v(c.rx_packets)),
                    ("rx_q0_bytes", v(c.rx_bytes)),
                    ("rx_q0_packets", v(c.rx_packets)),
                    ("tx_bytes", v(c.tx_bytes)),
                    ("tx_packets", v(c.tx_packets)),
                    ("tx_q0_bytes", v(c.tx_bytes)),
                    ("tx_q0_packets", v(c.tx_packets)),
                ]
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect();
                DeviceStatus {
                    ifindex: 0,
                    mac: mac.clone(),
                    mtu: Some(1500),
                    admin_up: true,
                    link_up: true,
                    statistics,
                    ..Default::default()
                }
            }
            Device::Virtual { mac } => DeviceStatus {
                ifindex: 0,
                mac: mac.clone(),
                admin_up: true,
                link_up: true,
                statistics: ["rx_bytes", "rx_packets", "tx_bytes", "tx_packets"]
                    .into_iter()
                    .map(|k| (k.to_string(), 0))
                    .collect(),
                ..Default::default()
            },
            Device::System { name } => system_status(name),
            Device::Tap { name } => {
                let mut st = system_status(name);
                swap_to_switch_side(&mut st.statistics);
                st
            }
        }
    }
}

/// Turns a tap device's kernel counters (what the host sent is what
/// the switch received) to the switch's side; the receive error details
/// have no meaning then.
fn swap_to_switch_side(stats: &mut BTreeMap<String, i64>) {
    for (rx, tx) in [
        ("rx_packets", "tx_packets"),
        ("rx_bytes", "tx_bytes"),
        ("rx_errors", "tx_errors"),
        ("rx_dropped", "tx_dropped"),
    ] {
        let (a, b) = (stats.remove(rx), stats.remove(tx));
        if let Some(b) = b {
            stats.insert(rx.to_string(), b);
        }
        if let Some(a) = a {
            stats.insert(tx.to_string(), a);
        }
    }
    for k in [
        "rx_crc_err",
        "rx_frame_err",
        "rx_missed_errors",
        "rx_over_err",
    ] {
        if let Some(v) = stats.get_mut(k) {
            *v = 0;
        }
    }
}

/// A random unicast, locally administered MAC.
pub fn random_mac() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(DUMMY_COUNT.load(Ordering::Relaxed)));
    let r = h.finish().to_be_bytes();
    let b0 = (r[0] & 0xfe) | 0x02;
    format_mac([b0, r[1], r[2], r[3], r[4], r[5]])
}

/// `xx:xx:xx:xx:xx:xx`, as stock prints an Ethernet address.
pub fn format_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn sys_path(name: &str) -> PathBuf {
    PathBuf::from("/sys/class/net").join(name)
}

fn read_sys(name: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(sys_path(name).join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_num(name: &str, file: &str) -> Option<i64> {
    read_sys(name, file).and_then(|s| {
        if let Some(hex) = s.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok()
        } else {
            s.parse().ok()
        }
    })
}

fn system_status(name: &str) -> DeviceStatus {
    const IFF_UP: i64 = 1;
    let flags = read_num(name, "flags").unwrap_or(0);
    let mut statistics = BTreeMap::new();
    for (ours, theirs) in [
        ("collisions", "collisions"),
        ("rx_bytes", "rx_bytes"),
        ("rx_crc_err", "rx_crc_errors"),
        ("rx_dropped", "rx_dropped"),
        ("rx_errors", "rx_errors"),
        ("rx_frame_err", "rx_frame_errors"),
        ("rx_missed_errors", "rx_missed_errors"),
        ("rx_multicast_packets", "multicast"),
        ("rx_over_err", "rx_over_errors"),
        ("rx_packets", "rx_packets"),
        ("tx_bytes", "tx_bytes"),
        ("tx_dropped", "tx_dropped"),
        ("tx_errors", "tx_errors"),
        ("tx_packets", "tx_packets"),
    ] {
        if let Some(v) = read_num(name, &format!("statistics/{theirs}")) {
            statistics.insert(ours.to_string(), v);
        }
    }
    let mut status = BTreeMap::new();
    // The driver's own account, as stock asks it (ethtool).
    if let Ok((driver, version, fw)) = ferrovs_netdev::dev::sys::ethtool_drvinfo(name) {
        status.insert("driver_name".to_string(), driver);
        status.insert("driver_version".to_string(), version);
        status.insert("firmware_version".to_string(), fw);
    }
    let (speed, full) = ferrovs_netdev::dev::sys::ethtool_link(name).unwrap_or((None, None));
    DeviceStatus {
        ifindex: read_num(name, "ifindex").unwrap_or(0),
        mac: read_sys(name, "address").unwrap_or_default(),
        mtu: read_num(name, "mtu"),
        admin_up: flags & IFF_UP != 0,
        link_up: read_num(name, "carrier") == Some(1),
        // ethtool gives Mb/s; the column is bits per second.
        link_speed: speed.map(|s| i64::from(s) * 1_000_000),
        duplex: full.map(|f| if f { "full" } else { "half" }.to_string()),
        statistics,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_macs_count_up_and_random_macs_are_local_unicast() {
        let Device::Dummy { mac: a, .. } = Device::new_dummy() else {
            panic!()
        };
        let Device::Dummy { mac: b, .. } = Device::new_dummy() else {
            panic!()
        };
        assert!(a.starts_with("aa:55:aa:55:") && a != b);
        let m = random_mac();
        let first = u8::from_str_radix(&m[..2], 16).unwrap();
        assert_eq!(first & 0x03, 0x02);
    }

    #[test]
    fn tap_counters_are_swapped_to_the_switch_side() {
        let mut st: BTreeMap<String, i64> = [
            ("rx_packets", 1),
            ("tx_packets", 2),
            ("rx_bytes", 10),
            ("tx_bytes", 20),
            ("rx_crc_err", 5),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        swap_to_switch_side(&mut st);
        assert_eq!(st["rx_packets"], 2);
        assert_eq!(st["tx_packets"], 1);
        assert_eq!(st["rx_bytes"], 20);
        assert_eq!(st["tx_bytes"], 10);
        assert_eq!(st["rx_crc_err"], 0);
    }

    #[test]
    fn system_devices_come_from_sysfs() {
        assert!(Device::open_system("../x").is_err());
        assert_eq!(
            Device::open_system("nosuchdev0").unwrap_err(),
            "could not open network device nosuchdev0 (No such device)"
        );
        if std::path::Path::new("/sys/class/net/lo").exists() {
            let st = Device::open_system("lo").unwrap().status();
            assert!(st.ifindex > 0);
            assert!(st.admin_up);
        }
    }
}
