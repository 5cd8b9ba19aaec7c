//! A test's OpenFlow controller: it accepts the switch's connection on a
//! TCP port (`set-controller br0 tcp:127.0.0.1:PORT`) and speaks OpenFlow
//! 1.0 over it, one message at a time.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::sandbox::Sandbox;

/// How long any one wait lasts: a connection, a message.
pub const STEP: Duration = Duration::from_secs(30);

/// A TCP port nothing listens on now, and that no other caller in this
/// process got (a test's sessions with stock and ferrovs run at the same
/// time, and the kernel may offer a port just let go to both).
pub fn unused_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// One OpenFlow 1.0 connection from the switch.
pub struct Controller {
    s: TcpStream,
}

impl Controller {
    /// Waits for the switch to connect (showing its log if it does not)
    /// and exchanges HELLOs.
    pub fn accept(l: &TcpListener, sb: &Sandbox) -> Controller {
        l.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + STEP;
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).expect("blocking");
                    s.set_read_timeout(Some(STEP)).expect("timeout");
                    let mut c = Controller { s };
                    let (ty, _, _) = c.recv();
                    assert_eq!(ty, 0, "the switch's first message is a HELLO");
                    c.send(0, 1, &[]);
                    return c;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "the switch did not connect; log:\n{}",
                        sb.vswitchd_log()
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    pub fn send(&mut self, ty: u8, xid: u32, body: &[u8]) {
        let mut m = vec![1, ty];
        m.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        m.extend_from_slice(&xid.to_be_bytes());
        m.extend_from_slice(body);
        self.s.write_all(&m).expect("send to switch");
    }

    /// The next message: (type, xid, body), or `None` when the switch
    /// closed the connection.
    pub fn recv_or_closed(&mut self) -> Option<(u8, u32, Vec<u8>)> {
        let mut h = [0u8; 8];
        match self.s.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("read header: {e}"),
        }
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let mut body = vec![0u8; len.saturating_sub(8)];
        self.s.read_exact(&mut body).expect("read body");
        Some((h[1], u32::from_be_bytes([h[4], h[5], h[6], h[7]]), body))
    }

    /// The next message: (type, xid, body).
    pub fn recv(&mut self) -> (u8, u32, Vec<u8>) {
        self.recv_or_closed()
            .expect("the switch closed the connection")
    }

    /// Reads until a message of type `want` (answering echo requests,
    /// which do not admit the controller); its body.
    pub fn until(&mut self, want: u8) -> Vec<u8> {
        let deadline = Instant::now() + STEP;
        loop {
            assert!(
                Instant::now() < deadline,
                "no message of type {want} from the switch"
            );
            let (ty, xid, body) = self.recv();
            if ty == want {
                return body;
            }
            if ty == 2 {
                self.send(3, xid, &body);
            }
        }
    }

    /// Reads (answering echo requests, dropping the rest) until the
    /// switch closes the connection: whether it did within [`STEP`].
    pub fn closed(&mut self) -> bool {
        let deadline = Instant::now() + STEP;
        while Instant::now() < deadline {
            match self.recv_or_closed() {
                None => return true,
                Some((2, xid, body)) => self.send(3, xid, &body),
                Some(_) => {}
            }
        }
        false
    }

    /// The datapath ID of a FEATURES_REPLY to a FEATURES_REQUEST.
    pub fn datapath_id(&mut self) -> u64 {
        self.send(5, 7, &[]);
        let body = self.until(6);
        u64::from_be_bytes(body[..8].try_into().expect("features reply"))
    }
}
