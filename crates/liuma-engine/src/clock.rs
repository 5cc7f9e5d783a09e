//! The engine's clock for the times it writes into records and compares
//! them with (creation, reuse and deletion times; GC grace; upload expiry).
//!
//! It is the system clock, plus an offset that only the engine's own tests
//! move ([`crate::testing::advance_clock`]): a grace period of GC then
//! passes at once instead of being slept through. Times compared with the
//! cluster's view (when a node was last seen) stay on the system clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::model::now_ms;

/// System time plus a test offset; clones share the offset.
#[derive(Clone, Debug, Default)]
pub(crate) struct Clock {
    ahead_ms: Arc<AtomicU64>,
}

impl Clock {
    /// Milliseconds since the Unix epoch, as the engine sees them.
    pub(crate) fn now_ms(&self) -> u64 {
        now_ms().saturating_add(self.ahead_ms.load(Relaxed))
    }

    /// How far ahead of the system clock this clock runs.
    pub(crate) fn ahead(&self) -> Duration {
        Duration::from_millis(self.ahead_ms.load(Relaxed))
    }

    /// Move the clock forward (tests).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(ms, Relaxed);
    }
}
