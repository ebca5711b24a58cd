//! Keeping rayon's workers awake through a burst of short parallel regions.
//!
//! An idle rayon worker spins for a few `yield_now` rounds and then sleeps; waking it again
//! costs tens of microseconds on some virtual machines, as much as a training step's per-layer
//! half of a matrix product. There, a step made of such regions runs no faster on two threads
//! than on one (`examples/fork_join_latency.rs`). [`with_workers_awake`] has another worker poll
//! the pool for jobs while `work` runs, as OpenMP's active wait does; which thread runs a job
//! never changes its result.

use crate::forward::on_thread_pool;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether some `with_workers_awake` has its poller out.
static POLLER_OUT: AtomicBool = AtomicBool::new(false);

/// Run `work` on a thread of rayon's pool while one other worker polls the pool for jobs
/// instead of sleeping between `work`'s parallel regions. For bursts of short regions (a
/// training step); the poller burns its core until `work` returns.
///
/// One poller at a time in the whole process: a poller stolen by a worker that has other work
/// suspended beneath it holds that work until its own `work` returns, so two pollers could
/// each hold the other's work. A call made while a poller is out (nested, or from a concurrent
/// job) runs `work` on the pool without one.
pub fn with_workers_awake<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_num_threads() < 2 || POLLER_OUT.swap(true, Ordering::AcqRel) {
        return on_thread_pool(work);
    }
    let _back = SetOnDrop(&POLLER_OUT, false);
    let done = &AtomicBool::new(false);
    rayon::scope(|scope| {
        let _stop = SetOnDrop(done, true);
        let home = rayon::current_thread_index();
        scope.spawn(move |_| keep_polling(done, home));
        work()
    })
}

/// Run the pool's jobs as they come until `done`. A poller that lands on the thread running the
/// work (`home`, which pops its own queue while it waits) returns at once: polling there would
/// keep the work itself from resuming.
fn keep_polling(done: &AtomicBool, home: Option<usize>) {
    if rayon::current_thread_index() == home {
        return;
    }
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::hint::spin_loop();
        }
    }
}

/// Stores its value in the flag when dropped, so the poller stops and the next call may send
/// one out even if the work panics.
struct SetOnDrop<'a>(&'a AtomicBool, bool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(self.1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn work_inside_returns_its_value_and_the_poller_stops() {
        let sums: Vec<u64> =
            (0..50).map(|k| with_workers_awake(|| (0..10_000u64).into_par_iter().map(|i| i * k).sum())).collect();
        assert_eq!(sums[7], 7 * (0..10_000u64).sum::<u64>());
    }

    #[test]
    fn a_panic_in_the_work_stops_the_poller_and_propagates() {
        let outcome = std::panic::catch_unwind(|| with_workers_awake(|| panic!("inside")));
        assert!(outcome.is_err());
        // The pool is still usable: the poller stopped.
        assert_eq!(with_workers_awake(|| (0..100u64).into_par_iter().sum::<u64>()), 4950);
    }

    #[test]
    fn concurrent_callers_from_outside_the_pool_all_finish() {
        let sums: Vec<u64> = std::thread::scope(|scope| {
            let jobs: Vec<_> = (0..4)
                .map(|k| {
                    scope.spawn(move || {
                        (0..20)
                            .map(|_| with_workers_awake(|| (0..5000u64).into_par_iter().map(|i| i + k).sum::<u64>()))
                            .sum()
                    })
                })
                .collect();
            jobs.into_iter().map(|j| j.join().unwrap()).collect()
        });
        assert_eq!(sums[3], 20 * ((0..5000u64).sum::<u64>() + 3 * 5000));
    }

    #[test]
    fn nested_calls_and_single_thread_pools_finish() {
        let inner = || with_workers_awake(|| (0..1000u64).into_par_iter().sum::<u64>());
        assert_eq!(with_workers_awake(|| inner() + inner()), 2 * 499_500);
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(single.install(|| with_workers_awake(|| (0..1000u64).into_par_iter().sum::<u64>())), 499_500);
    }
}
