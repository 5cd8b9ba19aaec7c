//! The control socket that `ovs-appctl` talks to:
//! `<rundir>/ovs-vswitchd.<pid>.ctl`, JSON-RPC requests whose method is the
//! command name and whose params are its string arguments.
//!
//! The server checks a request against the registered command (name,
//! argument count, string arguments) and answers with stock's error texts;
//! requests that pass are handed to the daemon, which runs the command and
//! replies through [`UnixctlServer::reply`].

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use mio::net::UnixListener;
use mio::{Interest, Registry, Token};
use serde_json::Value;

use crate::jsonrpc::{Connection, Message, Stream};

/// Largest request accepted, in bytes.
const MAX_REQUEST: usize = 1 << 20;
/// At most this many clients at once; a new one pushes out the oldest, so
/// that idle connections cannot lock `ovs-appctl` out.
const MAX_CONNECTIONS: usize = 64;

/// A registered command.
#[derive(Debug, Clone)]
pub struct Command {
    pub usage: &'static str,
    /// Left out of `list-commands` (stock's commands registered without
    /// a usage: deprecated names and test hooks).
    pub hidden: bool,
    pub min_args: usize,
    pub max_args: usize,
}

/// A valid request for the daemon to run.
#[derive(Debug, Clone)]
pub struct Request {
    pub conn: Token,
    pub id: Value,
    pub method: String,
    pub args: Vec<String>,
}

pub struct UnixctlServer {
    listener: UnixListener,
    path: PathBuf,
    listener_token: Token,
    conns: HashMap<Token, Connection>,
    next_token: usize,
    commands: BTreeMap<String, Command>,
}

impl UnixctlServer {
    /// Listens on `path` (replacing a stale socket). Connection tokens
    /// start at `first_conn_token`; the listener uses `listener_token`.
    pub fn new(
        path: &Path,
        registry: &Registry,
        listener_token: Token,
        first_conn_token: usize,
    ) -> io::Result<UnixctlServer> {
        let _ = std::fs::remove_file(path);
        let mut listener = UnixListener::bind(path)?;
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        Ok(UnixctlServer {
            listener,
            path: path.to_path_buf(),
            listener_token,
            conns: HashMap::new(),
            next_token: first_conn_token,
            commands: BTreeMap::new(),
        })
    }

    pub fn register(&mut self, name: &str, usage: &'static str, min_args: usize, max_args: usize) {
        self.commands.insert(
            name.to_string(),
            Command {
                usage,
                hidden: false,
                min_args,
                max_args,
            },
        );
    }

    /// Keeps a registered command out of `list-commands`.
    pub fn hide(&mut self, name: &str) {
        if let Some(c) = self.commands.get_mut(name) {
            c.hidden = true;
        }
    }

    /// The `list-commands` text.
    pub fn list_commands(&self) -> String {
        let mut s = String::from("The available commands are:\n");
        for (name, c) in self.commands.iter().filter(|(_, c)| !c.hidden) {
            s.push_str(&format!("  {name:<23} {}\n", c.usage));
        }
        s
    }

    pub fn owns(&self, token: Token) -> bool {
        token == self.listener_token || self.conns.contains_key(&token)
    }

    /// Handles readiness on the listener or a connection; returns the
    /// requests to run.
    pub fn handle_event(&mut self, token: Token, registry: &Registry) -> Vec<Request> {
        if token == self.listener_token {
            self.accept(registry);
            return Vec::new();
        }
        let Some(conn) = self.conns.get_mut(&token) else {
            return Vec::new();
        };
        let received = conn.receive();
        let mut requests = Vec::new();
        let mut replies = Vec::new();
        for msg in received.messages {
            match msg {
                Message::Request { method, params, id } => match self.check(&method, &params) {
                    Ok(args) => requests.push(Request {
                        conn: token,
                        id,
                        method,
                        args,
                    }),
                    Err(e) => {
                        let e = with_newline(e);
                        log::debug!(target: "unixctl", "replying with error, id={id}: \"{e}\"");
                        replies.push(Message::Error {
                            error: Value::String(e),
                            id,
                        })
                    }
                },
                // Notifications and replies mean nothing to this server.
                other => log::debug!(target: "unixctl", "ignoring unexpected message {other:?}"),
            }
        }
        let mut close = received.closed;
        if let Some(conn) = self.conns.get_mut(&token) {
            for r in replies {
                if let Err(e) = conn.send(&r) {
                    close = Some(e.to_string());
                }
            }
            if let Some(why) = &close {
                if why.contains("JSON") || why.contains("larger than") {
                    log::warn!(target: "unixctl", "{}: {why}", self.path.display());
                    // Tell the client before hanging up; it may be gone.
                    let _ = conn.send(&Message::Error {
                        error: Value::String(why.clone()),
                        id: Value::Null,
                    });
                }
            }
        }
        if close.is_some() {
            self.close(token, registry);
        } else {
            self.update_interest(token, registry);
        }
        requests
    }

    fn check(&self, method: &str, params: &Value) -> Result<Vec<String>, String> {
        let params = params.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let Some(cmd) = self.commands.get(method) else {
            return Err(format!(
                "\"{method}\" is not a valid command (use \"list-commands\" to see a list of valid commands)"
            ));
        };
        if params.len() < cmd.min_args {
            return Err(format!(
                "\"{method}\" command requires at least {} arguments",
                cmd.min_args
            ));
        }
        if params.len() > cmd.max_args {
            return Err(format!(
                "\"{method}\" command takes at most {} arguments",
                cmd.max_args
            ));
        }
        params
            .iter()
            .map(|p| match p {
                Value::String(s) => Ok(s.clone()),
                _ => Err(format!("\"{method}\" command has non-string argument")),
            })
            .collect()
    }

    fn accept(&mut self, registry: &Registry) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.conns.len() >= MAX_CONNECTIONS {
                        log::warn!(target: "unixctl", "too many control connections, closing the oldest");
                        if let Some(oldest) = self.conns.keys().min().copied() {
                            self.close(oldest, registry);
                        }
                    }
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    let mut conn = Connection::new(Stream::Unix(stream), MAX_REQUEST);
                    if registry
                        .register(&mut conn.stream, token, Interest::READABLE)
                        .is_ok()
                    {
                        self.conns.insert(token, conn);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!(target: "unixctl", "accept failed: {e}");
                    break;
                }
            }
        }
    }

    /// Sends the outcome of a command.
    pub fn reply(&mut self, registry: &Registry, req: &Request, outcome: Result<String, String>) {
        let Some(conn) = self.conns.get_mut(&req.conn) else {
            return;
        };
        // Like stock, a non-empty body always ends in a newline.
        let outcome = match outcome {
            Ok(b) => Ok(with_newline(b)),
            Err(e) => Err(with_newline(e)),
        };
        let msg = match outcome {
            Ok(body) => Message::Reply {
                result: Value::String(body),
                id: req.id.clone(),
            },
            Err(e) => Message::Error {
                error: Value::String(e),
                id: req.id.clone(),
            },
        };
        if conn.send(&msg).is_err() {
            self.close(req.conn, registry);
        } else {
            self.update_interest(req.conn, registry);
        }
    }

    /// Writes queued replies after the socket became writable.
    pub fn flush_all(&mut self, registry: &Registry) {
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for t in tokens {
            let failed = self.conns.get_mut(&t).is_some_and(|c| c.flush().is_err());
            if failed {
                self.close(t, registry);
            } else {
                self.update_interest(t, registry);
            }
        }
    }

    fn update_interest(&mut self, token: Token, registry: &Registry) {
        if let Some(conn) = self.conns.get_mut(&token) {
            let interest = if conn.wants_write() {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = registry.reregister(&mut conn.stream, token, interest);
        }
    }

    fn close(&mut self, token: Token, registry: &Registry) {
        if let Some(mut conn) = self.conns.remove(&token) {
            let _ = registry.deregister(&mut conn.stream);
        }
    }
}

fn with_newline(mut s: String) -> String {
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

impl Drop for UnixctlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
