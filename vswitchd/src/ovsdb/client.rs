//! The connection to ovsdb-server: connect, fetch the schema, monitor every
//! table (monitor_cond where the server offers it, monitor otherwise), take
//! the `ovs_vswitchd` lock, run transactions, answer echo requests, and
//! reconnect with backoff (1 s doubling to 8 s) when the server goes away.
//! The replica survives a disconnection, so the daemon keeps running the
//! last configuration it saw; the next monitor reply replaces it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};
use serde_json::{json, Value};

use super::replica::{ChangeSet, Replica, Schema};
use crate::jsonrpc::{Connection, Message, Stream};

const DB_NAME: &str = "Open_vSwitch";
/// The lock stock ovs-vswitchd takes so that only one daemon writes.
pub const LOCK_NAME: &str = "ovs_vswitchd";
/// Largest message accepted from the server (a large initial dump fits).
const MAX_MESSAGE: usize = 256 << 20;
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// What the daemon learns from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The replica changed (a monitor reply or update arrived).
    Changed,
    /// The lock is ours now.
    LockAcquired,
    /// The lock is gone (server lost, or stolen).
    LockLost,
    /// A transaction finished: its id, and its error text if it failed.
    TxnDone { id: u64, error: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Schema,
    MonitorCond,
    Monitor,
    Lock,
    Transact(u64),
}

enum State {
    /// Waiting until the given time to try again.
    Backoff(Instant),
    /// A non-blocking connect is under way.
    Connecting,
    Connected,
}

pub struct Client {
    target: String,
    token: Token,
    conn: Option<Connection>,
    state: State,
    backoff: Duration,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    schema: Option<Schema>,
    monitor_v2: bool,
    pub replica: Replica,
    /// The configuration rows changed since the daemon last took them
    /// (`take_changes`).
    changes: ChangeSet,
    /// Whether the replica reflects the current connection's monitor.
    pub synced: bool,
    pub has_lock: bool,
}

impl Client {
    pub fn new(target: &str, token: Token) -> Client {
        Client {
            target: target.to_string(),
            token,
            conn: None,
            state: State::Backoff(Instant::now()),
            backoff: Duration::ZERO,
            next_id: 1,
            pending: HashMap::new(),
            schema: None,
            monitor_v2: true,
            replica: Replica::default(),
            changes: ChangeSet::everything(),
            synced: false,
            has_lock: false,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected)
    }

    /// How long the main loop may sleep before `run` has work.
    pub fn timeout(&self) -> Option<Duration> {
        match self.state {
            State::Backoff(at) => Some(at.saturating_duration_since(Instant::now())),
            _ => None,
        }
    }

    /// Timers: starts a connection attempt when the backoff is over.
    pub fn run(&mut self, registry: &Registry) {
        if let State::Backoff(at) = self.state {
            if Instant::now() >= at {
                self.start_connect(registry);
            }
        }
    }

    fn start_connect(&mut self, registry: &Registry) {
        log::info!(target: "reconnect", "{}: connecting...", self.target);
        match Stream::connect(&self.target) {
            Ok(mut stream) => {
                if let Err(e) = registry.register(
                    &mut stream,
                    self.token,
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    self.fail(&format!("connection attempt failed ({})", io_text(&e)));
                    return;
                }
                self.conn = Some(Connection::new(stream, MAX_MESSAGE));
                self.state = State::Connecting;
            }
            Err(e) => self.fail(&format!("connection attempt failed ({})", io_text(&e))),
        }
    }

    fn fail(&mut self, why: &str) {
        log::info!(target: "reconnect", "{}: {why}", self.target);
        self.backoff = if self.backoff.is_zero() {
            MIN_BACKOFF
        } else {
            (self.backoff * 2).min(MAX_BACKOFF)
        };
        log::info!(
            target: "reconnect",
            "{}: waiting {} seconds before reconnect",
            self.target,
            self.backoff.as_secs()
        );
        self.state = State::Backoff(Instant::now() + self.backoff);
    }

    fn disconnect(&mut self, registry: &Registry, why: &str, events: &mut Vec<Event>) {
        if let Some(mut c) = self.conn.take() {
            let _ = registry.deregister(&mut c.stream);
        }
        for (_, p) in self.pending.drain() {
            if let Pending::Transact(id) = p {
                events.push(Event::TxnDone {
                    id,
                    error: Some("connection lost".into()),
                });
            }
        }
        self.synced = false;
        if self.has_lock {
            self.has_lock = false;
            events.push(Event::LockLost);
        }
        self.fail(why);
    }

    /// Handles readiness of the connection.
    pub fn handle_event(&mut self, registry: &Registry) -> Vec<Event> {
        let mut events = Vec::new();
        if matches!(self.state, State::Connecting) {
            let err = self.conn.as_ref().map(|c| c.stream.take_error());
            match err {
                Some(Ok(None)) => {
                    log::info!(target: "reconnect", "{}: connected", self.target);
                    self.state = State::Connected;
                    self.backoff = Duration::ZERO;
                    self.send_request(
                        registry,
                        "get_schema",
                        json!([DB_NAME]),
                        Pending::Schema,
                        &mut events,
                    );
                }
                Some(Ok(Some(e))) | Some(Err(e)) => {
                    self.disconnect(
                        registry,
                        &format!("connection attempt failed ({})", io_text(&e)),
                        &mut events,
                    );
                    return events;
                }
                None => return events,
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return events;
        };
        if let Err(e) = conn.flush() {
            self.disconnect(registry, &format!("send error: {e}"), &mut events);
            return events;
        }
        let received = conn.receive();
        for msg in received.messages {
            self.handle_message(registry, msg, &mut events);
        }
        if let Some(why) = received.closed {
            if why.contains("JSON") || why.contains("larger") {
                log::warn!(target: "jsonrpc", "{}: {why}", self.target);
            }
            self.disconnect(registry, &why, &mut events);
        } else {
            self.update_interest(registry);
        }
        events
    }

    fn update_interest(&mut self, registry: &Registry) {
        if let Some(c) = self.conn.as_mut() {
            let i = if c.wants_write() {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = registry.reregister(&mut c.stream, self.token, i);
        }
    }

    fn send_request(
        &mut self,
        registry: &Registry,
        method: &str,
        params: Value,
        kind: Pending,
        events: &mut Vec<Event>,
    ) -> Option<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let conn = self.conn.as_mut()?;
        let msg = Message::Request {
            method: method.into(),
            params,
            id: json!(id),
        };
        if let Err(e) = conn.send(&msg) {
            self.disconnect(registry, &format!("send error: {e}"), events);
            return None;
        }
        self.pending.insert(id, kind);
        self.update_interest(registry);
        Some(id)
    }

    fn send_monitor(&mut self, registry: &Registry, events: &mut Vec<Event>) {
        let Some(schema) = &self.schema else { return };
        let mut requests = serde_json::Map::new();
        for table in schema.tables.keys() {
            // No "columns": every column; no "where": every row.
            let req = if self.monitor_v2 {
                json!([{}])
            } else {
                json!({})
            };
            requests.insert(table.clone(), req);
        }
        let (method, kind) = if self.monitor_v2 {
            ("monitor_cond", Pending::MonitorCond)
        } else {
            ("monitor", Pending::Monitor)
        };
        let params = json!([DB_NAME, Value::Null, Value::Object(requests)]);
        self.send_request(registry, method, params, kind, events);
    }

    fn handle_message(&mut self, registry: &Registry, msg: Message, events: &mut Vec<Event>) {
        match msg {
            Message::Request { method, params, id } if method == "echo" => {
                if let Some(c) = self.conn.as_mut() {
                    let _ = c.send(&Message::Reply { result: params, id });
                }
            }
            Message::Request { method, id, .. } => {
                if let Some(c) = self.conn.as_mut() {
                    let _ = c.send(&Message::Error {
                        error: json!(format!("unknown method {method}")),
                        id,
                    });
                }
            }
            Message::Notify { method, params } => match method.as_str() {
                "update" | "update2" => {
                    let updates = params.get(1).cloned().unwrap_or(Value::Null);
                    let r = if method == "update2" {
                        match &self.schema {
                            Some(s) => self.replica.apply_update2(&updates, s),
                            None => Err("update2 before schema".into()),
                        }
                    } else {
                        self.replica.apply_update(&updates)
                    };
                    match r {
                        // An update that only echoes status the daemon
                        // wrote (statistics, ofport, cur_cfg, ...) changes
                        // no configuration: no reconfiguration for it, as
                        // stock's IDL does not alert on those columns.
                        Ok(changes) if changes.is_empty() => {}
                        Ok(changes) => {
                            self.changes.merge(changes);
                            events.push(Event::Changed);
                        }
                        Err(e) => self.disconnect(registry, &format!("bad {method}: {e}"), events),
                    }
                }
                "locked"
                    if params.get(0).and_then(Value::as_str) == Some(LOCK_NAME)
                        && !self.has_lock =>
                {
                    self.has_lock = true;
                    events.push(Event::LockAcquired);
                }
                "stolen" if self.has_lock => {
                    log::warn!(target: "ovsdb_idl", "{}: lock {LOCK_NAME} stolen by another client", self.target);
                    self.has_lock = false;
                    events.push(Event::LockLost);
                }
                _ => {}
            },
            Message::Reply { result, id } => {
                let Some(kind) = id.as_u64().and_then(|i| self.pending.remove(&i)) else {
                    return;
                };
                self.handle_reply(registry, kind, Ok(result), events);
            }
            Message::Error { error, id } => {
                let Some(kind) = id.as_u64().and_then(|i| self.pending.remove(&i)) else {
                    return;
                };
                self.handle_reply(registry, kind, Err(error), events);
            }
        }
    }

    fn handle_reply(
        &mut self,
        registry: &Registry,
        kind: Pending,
        reply: Result<Value, Value>,
        events: &mut Vec<Event>,
    ) {
        match (kind, reply) {
            (Pending::Schema, Ok(v)) => match Schema::from_json(&v) {
                Ok(s) => {
                    self.schema = Some(s);
                    self.monitor_v2 = true;
                    self.send_monitor(registry, events);
                    self.send_request(registry, "lock", json!([LOCK_NAME]), Pending::Lock, events);
                }
                Err(e) => self.disconnect(registry, &format!("bad schema: {e}"), events),
            },
            (Pending::Schema, Err(e)) => {
                self.disconnect(registry, &format!("get_schema failed: {e}"), events)
            }
            (Pending::MonitorCond, Err(_)) => {
                // An older server: fall back to the plain monitor.
                self.monitor_v2 = false;
                self.send_monitor(registry, events);
            }
            (Pending::MonitorCond | Pending::Monitor, Ok(v)) => {
                let mut fresh = Replica::default();
                let r = match (&self.schema, kind) {
                    (Some(s), Pending::MonitorCond) => fresh.apply_update2(&v, s),
                    _ => fresh.apply_update(&v),
                };
                match r {
                    Ok(_) => {
                        self.replica = fresh;
                        self.changes = ChangeSet::everything();
                        self.synced = true;
                        events.push(Event::Changed);
                    }
                    Err(e) => self.disconnect(registry, &format!("bad monitor reply: {e}"), events),
                }
            }
            (Pending::Monitor, Err(e)) => {
                self.disconnect(registry, &format!("monitor failed: {e}"), events)
            }
            (Pending::Lock, Ok(v)) => {
                if v.get("locked").and_then(Value::as_bool) == Some(true) && !self.has_lock {
                    self.has_lock = true;
                    events.push(Event::LockAcquired);
                } else if !self.has_lock {
                    log::info!(target: "ovsdb_idl", "{}: waiting for lock {LOCK_NAME}", self.target);
                }
            }
            (Pending::Lock, Err(e)) => {
                log::warn!(target: "ovsdb_idl", "{}: lock request failed: {e}", self.target)
            }
            (Pending::Transact(id), Ok(v)) => {
                let error = transaction_error(&v);
                events.push(Event::TxnDone { id, error });
            }
            (Pending::Transact(id), Err(e)) => events.push(Event::TxnDone {
                id,
                error: Some(e.to_string()),
            }),
        }
    }

    /// The configuration rows changed since the last call (every row
    /// after a new monitor reply); the daemon reconfigures for these.
    pub fn take_changes(&mut self) -> ChangeSet {
        std::mem::take(&mut self.changes)
    }

    /// Sends a transaction of `ops` (asserting the lock first); `None` when
    /// not connected.
    pub fn transact(&mut self, registry: &Registry, ops: Vec<Value>) -> (Option<u64>, Vec<Event>) {
        let mut events = Vec::new();
        if !self.is_connected() {
            return (None, events);
        }
        let mut params = vec![json!(DB_NAME), json!({"op": "assert", "lock": LOCK_NAME})];
        params.extend(ops);
        let txn_id = self.next_id;
        let id = self.send_request(
            registry,
            "transact",
            Value::Array(params),
            Pending::Transact(txn_id),
            &mut events,
        );
        (id, events)
    }
}

/// An I/O error's text as OVS prints errno texts (without "(os error N)").
fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The first error of a transaction reply, if any (RFC 7047 5.2).
fn transaction_error(result: &Value) -> Option<String> {
    let Some(ops) = result.as_array() else {
        return Some("transaction reply is not an array".into());
    };
    ops.iter().find_map(|r| {
        let e = r.get("error")?.as_str()?;
        let details = r.get("details").and_then(Value::as_str).unwrap_or("");
        Some(if details.is_empty() {
            e.to_string()
        } else {
            format!("{e}: {details}")
        })
    })
}
