//! The userspace datapath's poll threads handing their misses to a
//! `MissHandler` (dummy ports, no root needed): the handler runs on the
//! poll thread, installs through the datapath's own handle, and the
//! packet leaves with the actions it returned; only a pass larger than
//! the poll thread takes goes to the upcall queues; without a handler,
//! misses are upcalls again.

mod dummy_io;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrovs_dpif::netdev::{DeviceMode, Miss, MissHandler, MissVerdict, NetdevControl, NetdevDpif};
use ferrovs_dpif::odp::{self, Key};
use ferrovs_dpif::{Dpif, FlowPut, PortSpec, PutFlags, UpcallKind};
use ferrovs_netdev::packet::Packet;

use dummy_io::sent;

/// Installs an exact-match flow with output to port 2 for every miss.
#[derive(Default)]
struct ForwardToPort2 {
    handled: AtomicUsize,
    threads: Mutex<Vec<String>>,
}

impl MissHandler for ForwardToPort2 {
    fn handle_misses(&self, dp: &NetdevControl, misses: &mut [Miss]) -> Vec<MissVerdict> {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.threads.lock().unwrap().push(name);
        let actions = odp::parse_actions("2", None).unwrap();
        misses
            .iter()
            .map(|m| {
                self.handled.fetch_add(1, Ordering::SeqCst);
                // The attributes that come along are the key's.
                assert_eq!(Key::from_nlattrs(&m.key).unwrap(), m.attrs);
                let put = FlowPut {
                    flags: PutFlags {
                        create: true,
                        ..Default::default()
                    },
                    key: &m.key,
                    mask: &[],
                    actions: &actions,
                    ufid: None,
                };
                // Installed from the parsed key, executed with the
                // installed flow's actions.
                match dp.flow_put_extracted(&put, &m.flow) {
                    Ok(flow) => MissVerdict::Flow(flow),
                    // A burst may carry the same flow twice.
                    Err(e) => {
                        assert_eq!(e.errno, libc::EEXIST);
                        MissVerdict::Actions(actions.clone())
                    }
                }
            })
            .collect()
    }
}

fn frame(src_port: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![
        0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let c = ferrovs_netdev::csum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&[0, 80, 0, 8, 0, 0]);
    f
}

#[test]
fn poll_threads_hand_misses_to_the_handler() {
    let mut dp = NetdevDpif::create("dpmiss", DeviceMode::AllDummy).unwrap();
    let rx = dp.upcall_receiver().unwrap();
    for p in ["p1", "p2"] {
        dp.port_add(&PortSpec {
            name: p.into(),
            port_type: "system".into(),
            ..Default::default()
        })
        .unwrap();
    }
    let handler = Arc::new(ForwardToPort2::default());
    let ctl = dp.control();
    ctl.set_miss_handler(Some(Arc::clone(&handler) as Arc<dyn MissHandler>));
    let p1 = dp.dummy_device(1).unwrap();

    // A miss: handled on a poll thread, forwarded with the returned
    // actions, its flow installed; no upcall.
    let f = frame(1000);
    p1.inject(Packet::from_bytes(&f));
    assert_eq!(sent(&dp, 2, 1), vec![f.clone()]);
    assert_eq!(handler.handled.load(Ordering::SeqCst), 1);
    let threads = handler.threads.lock().unwrap().clone();
    assert!(threads.iter().all(|t| t.starts_with("pmd")), "{threads:?}");
    let flows = dp.flow_dump().unwrap();
    assert_eq!(flows.len(), 1);
    let key = Key::from_nlattrs(&flows[0].key).unwrap().to_text();
    assert!(
        key.contains("in_port(1)") && key.contains("udp(src=1000,dst=80)"),
        "{key}"
    );
    assert!(rx.try_recv().is_none(), "the handled miss also went up");

    // The flow now carries the same packet without the handler.
    p1.inject(Packet::from_bytes(&f));
    assert_eq!(sent(&dp, 2, 1), vec![f.clone()]);
    assert_eq!(handler.handled.load(Ordering::SeqCst), 1);

    // A burst of new flows: each miss is either handled on the poll
    // thread or queued as an upcall (a pass with more misses than the
    // poll thread takes goes to the queues), never both, never neither.
    const BURST: usize = 40;
    for i in 0..BURST {
        p1.inject(Packet::from_bytes(&frame(2000 + i as u16)));
    }
    let mut upcalls = 0;
    let t = Instant::now();
    while handler.handled.load(Ordering::SeqCst) - 1 + upcalls < BURST
        && t.elapsed() < Duration::from_secs(5)
    {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Some(u) => {
                assert_eq!(u.kind, UpcallKind::Miss);
                upcalls += 1;
            }
            None => continue,
        }
    }
    let inline = handler.handled.load(Ordering::SeqCst) - 1;
    assert_eq!(
        inline + upcalls,
        BURST,
        "{inline} handled, {upcalls} queued"
    );
    assert_eq!(sent(&dp, 2, inline).len(), inline);

    // Without a handler, misses are upcalls again.
    ctl.set_miss_handler(None);
    p1.inject(Packet::from_bytes(&frame(3000)));
    let u = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("miss upcall");
    assert_eq!(u.kind, UpcallKind::Miss);
    assert_eq!(u.packet, frame(3000));
    assert_eq!(handler.handled.load(Ordering::SeqCst), inline + 1);
}
