//! Remembers recent remote misses for a short time.
//!
//! A game asks for the same missing pipeline every frame until it has compiled it; when every
//! tier misses, only the first ask should cost a network round trip.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::clock::Clock;
use crate::fingerprint::PipelineFingerprint;

/// How many misses are remembered at most; beyond it expired ones are purged, and if none had
/// expired everything is forgotten (a burst of distinct misses is not worth remembering).
const CAPACITY: usize = 4096;

/// A bounded set of fingerprints that missed within the last `ttl`.
#[derive(Debug)]
pub(crate) struct MissMemory {
    ttl: Duration,
    seen: Mutex<HashMap<PipelineFingerprint, Instant>>,
    clock: Arc<dyn Clock>,
}

impl MissMemory {
    /// `ttl` zero disables remembering.
    pub(crate) fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            ttl,
            seen: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Whether `fp` missed less than `ttl` ago.
    pub(crate) fn recently_missed(&self, fp: &PipelineFingerprint) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let now = self.clock.now();
        let mut seen = self.seen.lock();
        match seen.get(fp) {
            Some(at) if now.saturating_duration_since(*at) < self.ttl => true,
            Some(_) => {
                seen.remove(fp);
                false
            }
            None => false,
        }
    }

    /// Notes that `fp` just missed.
    pub(crate) fn remember(&self, fp: PipelineFingerprint) {
        if self.ttl.is_zero() {
            return;
        }
        let now = self.clock.now();
        let mut seen = self.seen.lock();
        if seen.len() >= CAPACITY {
            seen.retain(|_, at| now.saturating_duration_since(*at) < self.ttl);
            if seen.len() >= CAPACITY {
                seen.clear();
            }
        }
        seen.insert(fp, now);
    }

    /// Forgets `fp` (it was just put, so it may exist now).
    pub(crate) fn forget(&self, fp: &PipelineFingerprint) {
        if !self.ttl.is_zero() {
            self.seen.lock().remove(fp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::ManualClock;
    use super::*;

    fn memory(ttl: Duration) -> (MissMemory, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        (
            MissMemory::new(ttl, Arc::clone(&clock) as Arc<dyn Clock>),
            clock,
        )
    }

    #[test]
    fn remembers_for_the_ttl_then_forgets() {
        let (memory, clock) = memory(Duration::from_secs(10));
        let fp = PipelineFingerprint::of(b"a");
        assert!(!memory.recently_missed(&fp));
        memory.remember(fp);
        assert!(memory.recently_missed(&fp));
        clock.advance(Duration::from_millis(9_999));
        assert!(memory.recently_missed(&fp), "1 ms before the TTL ends");
        clock.advance(Duration::from_millis(1));
        assert!(!memory.recently_missed(&fp), "forgotten at the TTL");
        memory.remember(fp);
        memory.forget(&fp);
        assert!(!memory.recently_missed(&fp));
    }

    #[test]
    fn a_full_memory_keeps_unexpired_misses_and_purges_expired_ones() {
        let (memory, clock) = memory(Duration::from_secs(10));
        let old = PipelineFingerprint::of(b"old");
        memory.remember(old);
        clock.advance(Duration::from_secs(10));
        for n in 0..(CAPACITY as u32 - 1) {
            memory.remember(PipelineFingerprint::of(&n.to_le_bytes()));
        }
        let newest = PipelineFingerprint::of(b"newest");
        memory.remember(newest);
        assert_eq!(
            memory.seen.lock().len(),
            CAPACITY,
            "only the expired one went"
        );
        assert!(memory.recently_missed(&newest));
        assert!(memory.recently_missed(&PipelineFingerprint::of(&0u32.to_le_bytes())));
    }

    #[test]
    fn stays_bounded_and_zero_ttl_disables() {
        let (memory, _clock) = memory(Duration::from_secs(60));
        for n in 0..(CAPACITY as u32 * 2 + 10) {
            memory.remember(PipelineFingerprint::of(&n.to_le_bytes()));
        }
        assert!(memory.seen.lock().len() <= CAPACITY);
        let (off, _clock) = self::memory(Duration::ZERO);
        let fp = PipelineFingerprint::of(b"a");
        off.remember(fp);
        assert!(!off.recently_missed(&fp));
    }
}
