//! Process life cycle: pidfile, `--detach`, `--monitor`, `--no-chdir`,
//! `--mlockall`, and the signals that stop the daemon or reopen its log.
//!
//! The unsafe calls (fork, setsid, dup2, sigaction, mlockall) live here
//! only, each with its reason.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGTERM/SIGINT: stop cleanly.
pub static TERMINATE: AtomicBool = AtomicBool::new(false);
/// Set by SIGHUP: reopen the log file.
pub static REOPEN_LOG: AtomicBool = AtomicBool::new(false);

extern "C" fn on_terminate(_sig: libc::c_int) {
    TERMINATE.store(true, Ordering::SeqCst);
}

extern "C" fn on_hangup(_sig: libc::c_int) {
    REOPEN_LOG.store(true, Ordering::SeqCst);
}

fn set_handler(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: the sigaction struct is zero-initialized (a valid value),
    // then filled in; the handlers only store to atomics, which is
    // async-signal-safe. No SA_RESTART, so the poll loop wakes with EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Installs the handlers for SIGTERM, SIGINT, SIGHUP and ignores SIGPIPE
/// (a client hanging up must not kill the daemon).
pub fn install_signal_handlers() {
    set_handler(libc::SIGTERM, on_terminate);
    set_handler(libc::SIGINT, on_terminate);
    set_handler(libc::SIGHUP, on_hangup);
    // SAFETY: setting SIGPIPE's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Lets the main thread's stack grow to `bytes` (the soft RLIMIT_STACK,
/// up to the hard limit): `ofproto/trace` translates on that thread, and
/// translation recurses once per resubmit and nested action, as deep as
/// a controller's rules take it (a handler's stack is 64 MiB for the
/// same reason). The kernel checks the limit each time the stack grows,
/// and keeps at least 128 MiB below the stack free of mappings whatever
/// the limit was at exec, so a raise now takes effect. Returns the limit
/// in force.
pub fn allow_main_stack(bytes: u64) -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur == libc::RLIM_INFINITY || lim.rlim_cur >= bytes {
        return Ok(lim.rlim_cur);
    }
    lim.rlim_cur = if lim.rlim_max == libc::RLIM_INFINITY {
        bytes
    } else {
        bytes.min(lim.rlim_max)
    };
    // SAFETY: setrlimit only reads the rlimit we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_STACK, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(lim.rlim_cur)
}

/// Locks all memory (`--mlockall`).
pub fn mlockall() -> std::io::Result<()> {
    // SAFETY: mlockall takes flags only and touches no Rust memory.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The pidfile: written once the daemon runs, removed when it stops.
/// Like stock, the daemon holds a write lock (fcntl) on it for its whole
/// life: `ovs-appctl` trusts a pidfile only while someone holds that lock.
pub struct Pidfile {
    path: PathBuf,
    _file: File,
}

/// Takes a write lock on the whole of `f`; fails if another process holds it.
fn lock_file(f: &File) -> std::io::Result<()> {
    // SAFETY: a zeroed flock is a valid value; F_SETLK only reads it.
    let r = unsafe {
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &fl)
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Pidfile {
    /// Fails if another live process holds the pidfile, unless `overwrite`.
    pub fn check(path: &Path, overwrite: bool) -> Result<(), String> {
        if overwrite {
            return Ok(());
        }
        if let Ok(f) = File::options().read(true).write(true).open(path) {
            if lock_file(&f).is_err() {
                let pid = std::fs::read_to_string(path).unwrap_or_default();
                return Err(format!(
                    "{}: already running as pid {}, aborting",
                    path.display(),
                    pid.trim()
                ));
            }
        }
        Ok(())
    }

    pub fn create(path: &Path) -> Result<Pidfile, String> {
        let tmp = path.with_extension("pid.tmp");
        let write = || -> std::io::Result<File> {
            let _ = std::fs::remove_file(&tmp);
            let mut f = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            lock_file(&f)?;
            writeln!(f, "{}", std::process::id())?;
            f.flush()?;
            std::fs::rename(&tmp, path)?;
            Ok(f)
        };
        let file =
            write().map_err(|e| format!("{}: could not create pidfile: {e}", path.display()))?;
        Ok(Pidfile {
            path: path.to_path_buf(),
            _file: file,
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The child's end of `--detach`: tells the waiting parent that startup
/// finished (or failed).
pub struct Detached {
    ready: Option<OwnedFd>,
}

impl Detached {
    /// Reports successful startup; the parent exits 0.
    pub fn complete(&mut self) {
        if let Some(fd) = self.ready.take() {
            let mut f = File::from(fd);
            let _ = f.write_all(b"1");
        }
        redirect_stdio_to_null();
    }
}

fn redirect_stdio_to_null() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors from a descriptor
            // we own; Rust holds no other handle that owns them.
            unsafe {
                libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
}

fn fork() -> std::io::Result<libc::pid_t> {
    // SAFETY: called before any thread is started, so the child is a full
    // copy of a single-threaded process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(pid)
    }
}

/// `--detach`: forks; the parent waits until the child reports readiness
/// and exits with status 0 (or 1 if the child died first). Returns in the
/// child only.
pub fn detach(no_chdir: bool) -> Result<Detached, String> {
    let (r, w) = pipe().map_err(|e| format!("pipe failed: {e}"))?;
    match fork().map_err(|e| format!("fork failed: {e}"))? {
        0 => {
            drop(r);
            // SAFETY: setsid has no memory-safety preconditions.
            unsafe {
                libc::setsid();
            }
            if !no_chdir {
                let _ = std::env::set_current_dir("/");
            }
            Ok(Detached { ready: Some(w) })
        }
        _child => {
            drop(w);
            let mut r = File::from(r);
            let mut buf = [0u8; 1];
            let ok = matches!(r.read(&mut buf), Ok(1));
            std::process::exit(if ok { 0 } else { 1 });
        }
    }
}

/// `--monitor`: the calling process becomes a monitor that restarts the
/// daemon when it dies from a crash signal. Returns in the daemon only.
/// A detached monitor lets go of the terminal (and of the pipes of whoever
/// started it) at once; the daemon does so once it is ready.
pub fn monitor(detached: bool) -> Result<(), String> {
    let mut first = true;
    loop {
        let pid = fork().map_err(|e| format!("fork failed: {e}"))?;
        if pid == 0 {
            return Ok(());
        }
        if detached && first {
            redirect_stdio_to_null();
        }
        first = false;
        let mut status: libc::c_int = 0;
        loop {
            // SAFETY: waitpid writes only to `status`, a local we own.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r == pid {
                break;
            }
            if TERMINATE.load(Ordering::SeqCst) {
                // SAFETY: signalling our own child.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            if matches!(
                sig,
                libc::SIGSEGV | libc::SIGBUS | libc::SIGABRT | libc::SIGILL | libc::SIGFPE
            ) {
                log::error!(target: "daemon_unix", "daemon died from signal {sig}, restarting");
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
            std::process::exit(1);
        }
        std::process::exit(if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            1
        });
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe writes two descriptors into the array we pass.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
