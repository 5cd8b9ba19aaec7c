//! Polling without sleeping for a short while after serving a request.
//!
//! A peer like `ovs-ofctl add-flows` sends one flow_mod and a barrier,
//! waits for the barrier reply, then sends the next. If the service
//! thread sleeps in between, every rule costs it a context switch and a
//! wakeup (on a virtual machine, an interrupt to an idle CPU), more than
//! the rule's own work. (The flow_mod and its barrier are two writes: a
//! loop woken by the first may also sleep again before the second.)
//! Looking again for a short window instead spends that time on the CPU,
//! so it is bounded three ways:
//! - only after the loop served a request, at most `window` each time,
//!   never while idle;
//! - the CPU is yielded between looks, so a peer sharing the CPU runs;
//!   a yield that outlasts the window counts as a miss even if the
//!   request is there on return;
//! - a window that closes with nothing (a slow peer, or a machine too
//!   busy to run it in time) turns polling off for the next 1, 3, 7, ...
//!   up to [`MAX_SKIP`] requests served; one window that catches a
//!   request turns it back on.
//!
//!
//! A flow_mod with no reply is a special case: its barrier is almost
//! certainly a few microseconds behind it, so the loop keeps reading that
//! connection for up to [`FOLLOW_UP_WINDOW`] (yielding between reads
//! after the first [`FOLLOW_UP_BUSY`])
//! and answers the barrier in the same pass; such waits back off the same
//! way on their own count.
//!
//! `FERROVS_OPENFLOW_REPLY_POLL_US` in the environment sets the window
//! (0 turns polling off); the default is [`DEFAULT_WINDOW`].

use std::time::{Duration, Instant};

/// Default window: a few times what `ovs-ofctl` takes between reading a
/// reply and sending its next request (about 15 µs here).
pub const DEFAULT_WINDOW: Duration = Duration::from_micros(50);
/// Longest wait for the request that follows one with no reply.
pub const FOLLOW_UP_WINDOW: Duration = Duration::from_micros(20);
/// How long of a follow-up wait looks without yielding the CPU.
pub const FOLLOW_UP_BUSY: Duration = Duration::from_micros(4);
/// Longest run of requests served without polling after windows that
/// missed.
pub const MAX_SKIP: u32 = 255;
/// Upper bound of the window the environment may set.
const MAX_WINDOW: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub struct ReplyPoll {
    window: Duration,
    /// While polling: when the window closes.
    until: Option<Instant>,
    /// Requests still to serve without polling.
    skip: u32,
    /// What `skip` restarts from after the next miss.
    backoff: u32,
    /// The same two for waits for a follow-up.
    follow_up_skip: u32,
    follow_up_backoff: u32,
}

impl ReplyPoll {
    pub fn new(window: Duration) -> ReplyPoll {
        ReplyPoll {
            window: window.min(MAX_WINDOW),
            until: None,
            skip: 0,
            backoff: 0,
            follow_up_skip: 0,
            follow_up_backoff: 0,
        }
    }

    /// The window from `FERROVS_OPENFLOW_REPLY_POLL_US`, or the default.
    pub fn from_env() -> ReplyPoll {
        let window = std::env::var("FERROVS_OPENFLOW_REPLY_POLL_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_WINDOW, Duration::from_micros);
        ReplyPoll::new(window)
    }

    /// Whether polling is turned off (`FERROVS_OPENFLOW_REPLY_POLL_US=0`).
    pub fn is_off(&self) -> bool {
        self.window.is_zero()
    }

    /// Whether the loop should look without sleeping now.
    pub fn is_open(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }

    /// Whether a window was opened and not yet settled by `found` or
    /// `missed`.
    pub fn is_pending(&self) -> bool {
        self.until.is_some()
    }

    /// The loop served a request at `now`: open a window unless polling
    /// is off or backing off.
    pub fn served(&mut self, now: Instant) {
        if self.window.is_zero() {
            return;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.until = Some(now + self.window);
    }

    /// Whether the loop may wait (reading, yielding) for the barrier that
    /// follows a flow_mod: polling is on and waits for follow-ups have
    /// not been missing. (Their own backoff: a follow-up comes far more
    /// reliably than the peer's next request.)
    pub fn may_wait_for_follow_up(&mut self) -> bool {
        if self.window.is_zero() {
            return false;
        }
        if self.follow_up_skip > 0 {
            self.follow_up_skip -= 1;
            return false;
        }
        true
    }

    /// How long to wait for a follow-up: `ovs-ofctl` sends its barrier
    /// a few microseconds after the flow_mod.
    pub fn follow_up_window(&self) -> Duration {
        self.window.min(FOLLOW_UP_WINDOW)
    }

    /// The awaited follow-up came (`caught`) or not: waits go on, or
    /// back off as windows do.
    pub fn follow_up(&mut self, caught: bool) {
        if caught {
            self.follow_up_backoff = 0;
        } else {
            self.follow_up_backoff = (self.follow_up_backoff * 2 + 1).min(MAX_SKIP);
            self.follow_up_skip = self.follow_up_backoff;
        }
    }

    /// A look at `now` found something. It counts as a catch only while
    /// the window is open: after a yield that lasted past the window (the
    /// CPU went to some other task for its whole slice), the wait was not
    /// short, and it counts as a miss.
    pub fn found(&mut self, now: Instant) {
        if self.is_open(now) {
            self.until = None;
            self.backoff = 0;
        } else {
            self.missed();
        }
    }

    /// The window closed with nothing: back off.
    pub fn missed(&mut self) {
        self.until = None;
        self.backoff = (self.backoff * 2 + 1).min(MAX_SKIP);
        self.skip = self.backoff;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_after_a_request_and_for_the_window() {
        let t0 = Instant::now();
        let mut p = ReplyPoll::new(Duration::from_micros(50));
        assert!(!p.is_open(t0));
        p.served(t0);
        assert!(p.is_open(t0 + Duration::from_micros(49)));
        assert!(!p.is_open(t0 + Duration::from_micros(50)));
        p.found(t0 + Duration::from_micros(10));
        assert!(!p.is_pending());
        // Found only after the window closed: a miss, so the next
        // request goes without a window.
        p.served(t0);
        p.found(t0 + Duration::from_micros(60));
        p.served(t0);
        assert!(!p.is_pending());
    }

    #[test]
    fn misses_back_off_and_a_catch_restores() {
        let t0 = Instant::now();
        let mut p = ReplyPoll::new(Duration::from_micros(50));
        // Misses: 1, then 3, then 7 requests go without a window.
        for skipped in [1, 3, 7] {
            p.served(t0);
            assert!(p.is_pending());
            p.missed();
            for _ in 0..skipped {
                p.served(t0);
                assert!(!p.is_pending());
            }
        }
        p.served(t0);
        assert!(p.is_open(t0));
        p.found(t0);
        // After a catch the next request polls again.
        p.served(t0);
        assert!(p.is_open(t0));
        // The backoff is bounded.
        for _ in 0..20 {
            p.missed();
        }
        assert_eq!(p.skip, MAX_SKIP);
    }

    #[test]
    fn follow_up_waits_back_off_on_their_own() {
        let mut p = ReplyPoll::new(Duration::from_micros(50));
        assert!(p.may_wait_for_follow_up());
        assert_eq!(p.follow_up_window(), FOLLOW_UP_WINDOW);
        p.follow_up(false);
        // One miss: the next follow-up is not waited for, the one after is.
        assert!(!p.may_wait_for_follow_up());
        assert!(p.may_wait_for_follow_up());
        p.follow_up(false);
        for _ in 0..3 {
            assert!(!p.may_wait_for_follow_up());
        }
        assert!(p.may_wait_for_follow_up());
        p.follow_up(true);
        assert!(p.may_wait_for_follow_up());
        // The request poll is not affected.
        let t0 = Instant::now();
        p.served(t0);
        assert!(p.is_open(t0));
        assert!(!ReplyPoll::new(Duration::ZERO).may_wait_for_follow_up());
    }

    #[test]
    fn zero_window_never_polls() {
        let t0 = Instant::now();
        let mut p = ReplyPoll::new(Duration::ZERO);
        p.served(t0);
        assert!(!p.is_pending());
        assert!(!p.is_open(t0));
    }
}
