//! Server-side sessions and the sign-in rate limit.
//!
//! A session is a random id (the cookie) mapped to the signed-in key's
//! credentials and a CSRF token; it ends after `idle` without a request.
//! The table is bounded: when full, expired sessions go first, then the
//! least recently used. Time comes from a [`Clock`] so tests move it by hand.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;

/// Monotonic time in milliseconds since some fixed start.
pub trait Clock: Send + Sync {
    /// Milliseconds since this clock's start.
    fn now_ms(&self) -> u64;
}

/// The real clock.
#[derive(Debug)]
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock tests advance by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// Move time forward.
    pub fn advance(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// 32 random bytes from the OS generator, hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Who a session signed in as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An S3 user's access key: the bucket and object pages.
    S3,
    /// The admin token: the cluster and access pages (admin API).
    Admin,
}

/// What a session holds.
#[derive(Clone)]
pub struct Session {
    /// S3 user or admin.
    pub kind: Kind,
    /// The access key id signed in.
    pub access_key: String,
    /// Its secret: the console signs S3 requests with it.
    pub secret: String,
    /// Sent back in `x-csrf-token` on every change.
    pub csrf: String,
    last_seen_ms: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("kind", &self.kind)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// The session table.
pub struct Sessions {
    clock: Arc<dyn Clock>,
    idle_ms: u64,
    max: usize,
    map: Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    /// An empty table: sessions end after `idle`; at most `max` at once.
    pub fn new(clock: Arc<dyn Clock>, idle: Duration, max: usize) -> Self {
        Sessions {
            clock,
            idle_ms: u64::try_from(idle.as_millis()).unwrap_or(u64::MAX),
            max: max.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a usable map.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Open an S3 user's session; its (id, csrf token).
    pub fn create(&self, access_key: &str, secret: &str) -> (String, String) {
        self.create_kind(Kind::S3, access_key, secret)
    }

    /// Open a session of `kind` (an admin session keeps the admin token as
    /// its `secret`: every admin call it makes presents it); (id, csrf token).
    pub fn create_kind(&self, kind: Kind, access_key: &str, secret: &str) -> (String, String) {
        let now = self.clock.now_ms();
        let id = random_token();
        let csrf = random_token();
        let mut map = self.lock();
        if map.len() >= self.max {
            map.retain(|_, s| now.saturating_sub(s.last_seen_ms) < self.idle_ms);
        }
        while map.len() >= self.max {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen_ms)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(
            id.clone(),
            Session {
                kind,
                access_key: access_key.to_owned(),
                secret: secret.to_owned(),
                csrf: csrf.clone(),
                last_seen_ms: now,
            },
        );
        (id, csrf)
    }

    /// The live session `id`, touched (its idle time restarts); None when
    /// unknown or idle too long (then it is removed).
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = self.clock.now_ms();
        let mut map = self.lock();
        let s = map.get_mut(id)?;
        if now.saturating_sub(s.last_seen_ms) >= self.idle_ms {
            map.remove(id);
            return None;
        }
        s.last_seen_ms = now;
        Some(s.clone())
    }

    /// End a session.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Sessions held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sign-in attempts per client address: at most `max` per `window`.
pub struct RateLimit {
    clock: Arc<dyn Clock>,
    window_ms: u64,
    max: u32,
    /// address -> (window start, attempts in it)
    map: Mutex<HashMap<String, (u64, u32)>>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").finish_non_exhaustive()
    }
}

/// Addresses tracked at most; beyond, finished windows are dropped first.
const MAX_ADDRS: usize = 65_536;

impl RateLimit {
    /// `max` attempts per `window` per address.
    pub fn new(clock: Arc<dyn Clock>, window: Duration, max: u32) -> Self {
        RateLimit {
            clock,
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Count an attempt from `addr`; false when it is over the limit.
    pub fn allow(&self, addr: &str) -> bool {
        let now = self.clock.now_ms();
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_ADDRS {
            map.retain(|_, (start, _)| now.saturating_sub(*start) < self.window_ms);
            if map.len() >= MAX_ADDRS {
                // Still full of live windows: refuse newcomers rather than grow.
                return map.contains_key(addr) && self.bump(&mut map, addr, now);
            }
        }
        self.bump(&mut map, addr, now)
    }

    fn bump(&self, map: &mut HashMap<String, (u64, u32)>, addr: &str, now: u64) -> bool {
        let e = map.entry(addr.to_owned()).or_insert((now, 0));
        if now.saturating_sub(e.0) >= self.window_ms {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(1);
        e.1 <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::default())
    }

    #[test]
    fn session_ends_after_idle_time_and_use_restarts_it() {
        let c = clock();
        let s = Sessions::new(c.clone(), Duration::from_secs(1800), 10);
        let (id, csrf) = s.create("AK", "SK");
        assert_ne!(id, csrf);
        assert_eq!(id.len(), 64);
        c.advance(Duration::from_secs(1799));
        assert_eq!(s.get(&id).map(|x| x.access_key), Some("AK".to_owned()));
        // touched: another 1799 s is fine
        c.advance(Duration::from_secs(1799));
        assert!(s.get(&id).is_some());
        c.advance(Duration::from_secs(1800));
        assert!(s.get(&id).is_none());
        assert!(s.is_empty(), "an expired session is removed");
        assert!(s.get("nope").is_none());
    }

    #[test]
    fn session_table_is_bounded_and_evicts_least_recently_used() {
        let c = clock();
        let s = Sessions::new(c.clone(), Duration::from_secs(60), 3);
        let (a, _) = s.create("a", "x");
        c.advance(Duration::from_secs(1));
        let (b, _) = s.create("b", "x");
        c.advance(Duration::from_secs(1));
        let (cc, _) = s.create("c", "x");
        c.advance(Duration::from_secs(1));
        assert!(s.get(&a).is_some()); // a is now the most recent
        let (d, _) = s.create("d", "x");
        assert_eq!(s.len(), 3);
        assert!(s.get(&b).is_none(), "b was least recently used");
        for id in [&a, &cc, &d] {
            assert!(s.get(id).is_some());
        }
    }

    #[test]
    fn remove_ends_a_session() {
        let s = Sessions::new(clock(), Duration::from_secs(60), 3);
        let (a, _) = s.create("a", "x");
        s.remove(&a);
        assert!(s.get(&a).is_none());
    }

    #[test]
    fn rate_limit_allows_max_per_window_per_address() {
        let c = clock();
        let r = RateLimit::new(c.clone(), Duration::from_secs(60), 10);
        for _ in 0..10 {
            assert!(r.allow("1.2.3.4"));
        }
        assert!(!r.allow("1.2.3.4"));
        assert!(r.allow("5.6.7.8"), "another address has its own budget");
        c.advance(Duration::from_secs(60));
        assert!(r.allow("1.2.3.4"), "a new window");
    }
}
