//! A device's background saver: saves the layer cache at a bounded cadence while it grows, so
//! a crash or kill loses at most one interval, and pipeline creation never waits for a save.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cache::DeviceCache;
use super::config::layer_log;

/// The running saver thread of one device. Stopping joins it (it finishes a save in progress).
pub(super) struct Saver {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl Saver {
    /// Starts saving `cache` every `interval` while it grows; `None` when no thread can be
    /// started (the final save at `vkDestroyDevice` still happens).
    pub fn start(cache: Arc<DeviceCache>, interval: Duration) -> Option<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("pcstore-layer-saver".to_owned())
            .spawn(move || run(&cache, &signal, interval));
        match thread {
            Ok(thread) => Some(Self { stop, thread }),
            Err(error) => {
                layer_log!(
                    Warn,
                    "no background saver ({error}); saving at vkDestroyDevice only"
                );
                None
            }
        }
    }

    /// Stops the thread and waits for it.
    pub fn stop(self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        let _ = self.thread.join();
    }
}

fn run(cache: &DeviceCache, signal: &(Mutex<bool>, Condvar), interval: Duration) {
    let (stopped, wake) = signal;
    let mut deadline = Instant::now() + interval;
    let mut guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if *guard {
            return;
        }
        let now = Instant::now();
        if now < deadline {
            guard = wake
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            continue;
        }
        drop(guard);
        // A panic in a save must not kill saving for good, nor reach the loader.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.save_if_grown("periodic");
        }));
        deadline = Instant::now() + interval;
        guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
    }
}
