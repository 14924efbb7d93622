//! Pause points for deterministic interleaving tests, compiled into test builds only: a test
//! installs a hook on its own thread, and the store calls it at these points when that thread
//! gets there (other threads, and other tests, never see it). Likewise a thread's wall clock
//! can be turned back, for entries written and used long ago.

use std::cell::{Cell, RefCell};

/// A point in the store's work where a test may act, as another process could.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    /// Loading a segment: between the two system calls that read its lock state and its size.
    BetweenLockAndSize,
    /// Compaction: a victim's survivors are copied and synced; it is about to be deleted.
    VictimCopied,
    /// Compaction: the candidates are gathered, about to be ranked (no segment name).
    Planning,
    /// Rebuild: the new index is in place; the old one's access times are about to be carried
    /// over and the old one freed (no segment name).
    IndexReplaced,
    /// An index file is about to be written for the segment.
    WritingIndex,
    /// Writeback of appended data is about to be started for the segment.
    StartingWriteback,
}

type Hook = Box<dyn FnMut(Pause, &str)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    static CLOCK_SET_BACK_NS: Cell<u64> = const { Cell::new(0) };
}

/// Turns this thread's wall clock (`clock::wall_clock_ns`: stamps, access times, a
/// compaction's now) back by `ns` until set again (0: the real clock).
pub fn set_clock_back(ns: u64) {
    CLOCK_SET_BACK_NS.with(|set_back| set_back.set(ns));
}

/// How far this thread's wall clock is turned back.
pub fn clock_set_back_ns() -> u64 {
    CLOCK_SET_BACK_NS.with(Cell::get)
}

/// Calls `hook(point, segment_name)` at every pause point this thread reaches, until [`clear`].
pub fn set(hook: impl FnMut(Pause, &str) + 'static) {
    HOOK.with(|slot| *slot.borrow_mut() = Some(Box::new(hook)));
}

/// Removes this thread's hook.
pub fn clear() {
    HOOK.with(|slot| *slot.borrow_mut() = None);
}

/// Runs this thread's hook, if any. The hook is taken out while it runs, so it may call into a
/// store (which reaches pause points of its own without re-entering the hook).
pub fn pause(point: Pause, segment_name: &str) {
    let Some(mut hook) = HOOK.with(|slot| slot.borrow_mut().take()) else {
        return;
    };
    hook(point, segment_name);
    HOOK.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(hook);
        }
    });
}
