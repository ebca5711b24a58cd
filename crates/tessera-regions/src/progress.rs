//! How far a running count or partition has got, and its cancellation, shared with another
//! thread (a progress display, a Ctrl-C handler).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// How far a running count or slice partition has got, readable from any thread, and its
/// cancellation: set [`cancel`](Self::cancel) and the work stops within one chunk of regions
/// with `RegionError::Interrupted`.
#[derive(Debug)]
pub struct CountProgress {
    pub(crate) regions: AtomicUsize,
    pub(crate) layer: AtomicUsize,
    pub(crate) layers: AtomicUsize,
    cancelled: AtomicBool,
    started: Instant,
}

impl Default for CountProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl CountProgress {
    /// A fresh progress; its clock (for [`rate`](Self::rate)) starts now.
    pub fn new() -> Self {
        Self {
            regions: AtomicUsize::new(0),
            layer: AtomicUsize::new(0),
            layers: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    /// Final regions counted so far.
    pub fn regions(&self) -> usize {
        self.regions.load(Ordering::Relaxed)
    }

    /// The kinked layer being split now (from 1; 0 before the first) and the number of
    /// kinked layers.
    pub fn layer(&self) -> (usize, usize) {
        (self.layer.load(Ordering::Relaxed), self.layers.load(Ordering::Relaxed))
    }

    /// Final regions per second since this progress was created.
    pub fn rate(&self) -> f64 {
        self.regions() as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    /// Ask the work to stop (from any thread, e.g. a Ctrl-C handler).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// `RegionError::Interrupted` (with the regions complete so far) once cancelled.
    pub(crate) fn check_cancelled(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            return Err(crate::RegionError::Interrupted { regions: self.regions() });
        }
        Ok(())
    }
}
