//! Remembers recent remote misses for a short time.
//!
//! A game asks for the same missing pipeline every frame until it has compiled it; when every
//! tier misses, only the first ask should cost a network round trip.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::fingerprint::PipelineFingerprint;

/// How many misses are remembered at most; beyond it expired ones are purged, and if none had
/// expired everything is forgotten (a burst of distinct misses is not worth remembering).
const CAPACITY: usize = 4096;

/// A bounded set of fingerprints that missed within the last `ttl`.
#[derive(Debug)]
pub(crate) struct MissMemory {
    ttl: Duration,
    seen: Mutex<HashMap<PipelineFingerprint, Instant>>,
}

impl MissMemory {
    /// `ttl` zero disables remembering.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `fp` missed less than `ttl` ago.
    pub(crate) fn recently_missed(&self, fp: &PipelineFingerprint) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let mut seen = self.seen.lock();
        match seen.get(fp) {
            Some(at) if at.elapsed() < self.ttl => true,
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
        let mut seen = self.seen.lock();
        if seen.len() >= CAPACITY {
            seen.retain(|_, at| at.elapsed() < self.ttl);
            if seen.len() >= CAPACITY {
                seen.clear();
            }
        }
        seen.insert(fp, Instant::now());
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
    use super::*;

    #[test]
    fn remembers_for_the_ttl_then_forgets() {
        let memory = MissMemory::new(Duration::from_millis(30));
        let fp = PipelineFingerprint::of(b"a");
        assert!(!memory.recently_missed(&fp));
        memory.remember(fp);
        assert!(memory.recently_missed(&fp));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!memory.recently_missed(&fp));
        memory.remember(fp);
        memory.forget(&fp);
        assert!(!memory.recently_missed(&fp));
    }

    #[test]
    fn stays_bounded_and_zero_ttl_disables() {
        let memory = MissMemory::new(Duration::from_secs(60));
        for n in 0..(CAPACITY as u32 * 2 + 10) {
            memory.remember(PipelineFingerprint::of(&n.to_le_bytes()));
        }
        assert!(memory.seen.lock().len() <= CAPACITY);
        let off = MissMemory::new(Duration::ZERO);
        let fp = PipelineFingerprint::of(b"a");
        off.remember(fp);
        assert!(!off.recently_missed(&fp));
    }
}
