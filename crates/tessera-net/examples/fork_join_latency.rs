//! How much a fork-join costs on this machine: a pair of equal CPU-bound tasks run one after the
//! other, through `rayon::join` inside rayon's pool (how every parallel region of a training
//! step or an LC batch runs), and on two threads that spin-wait for each other (what OpenMP's
//! active wait policy does, which PyTorch uses). On a machine where waking a sleeping thread is
//! slow (some VMs: tens of microseconds), rayon's pair is no faster than the sequential one
//! while the spinning pair stays near 2x; that caps every fine-grained parallel loop.
//!
//! `cargo run --release -p tessera-net --example fork_join_latency` (on an otherwise idle machine)

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const PAIRS: u64 = 2000;

/// About `n` nanoseconds of integer work that the optimiser cannot remove.
fn work(n: u64) -> u64 {
    (0..n).fold(1u64, |x, i| x.wrapping_mul(6364136223846793005).wrapping_add(i))
}

fn per_pair(run: impl FnOnce()) -> f64 {
    let started = Instant::now();
    run();
    started.elapsed().as_secs_f64() / PAIRS as f64 * 1e6
}

fn sequential(n: u64) -> f64 {
    per_pair(|| {
        (0..PAIRS).for_each(|_| {
            black_box(work(n) + work(n));
        })
    })
}

fn rayon_join(n: u64) -> f64 {
    rayon::scope(|_| {
        per_pair(|| {
            (0..PAIRS).for_each(|_| {
                black_box(rayon::join(|| work(n), || work(n)));
            })
        })
    })
}

/// `rayon::join` inside `tessera_net::with_workers_awake`: a poller on the other worker runs
/// the pool's jobs (`rayon::yield_now`) instead of letting it fall asleep between joins.
fn rayon_join_kept_awake(n: u64) -> f64 {
    tessera_net::with_workers_awake(|| rayon_join(n))
}

/// A helper thread takes one task of every pair; both threads spin (never sleep) in between.
fn spinning_pair(n: u64) -> f64 {
    let (started, finished) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for pair in 1..=PAIRS {
                while started.load(Ordering::Acquire) < pair {
                    std::hint::spin_loop();
                }
                black_box(work(n));
                finished.store(pair, Ordering::Release);
            }
        });
        per_pair(|| {
            for pair in 1..=PAIRS {
                started.store(pair, Ordering::Release);
                black_box(work(n));
                while finished.load(Ordering::Acquire) < pair {
                    std::hint::spin_loop();
                }
            }
        })
    })
}

fn main() {
    println!("rayon threads: {}", rayon::current_num_threads());
    for n in [20_000, 200_000] {
        let (seq, join, kept, spin) = (sequential(n), rayon_join(n), rayon_join_kept_awake(n), spinning_pair(n));
        println!(
            "task of {n} steps: sequential pair {seq:.1} us, rayon::join {join:.1} us (x{:.2}), \
             rayon::join with a keeper {kept:.1} us (x{:.2}), spinning pair {spin:.1} us (x{:.2})",
            seq / join,
            seq / kept,
            seq / spin
        );
    }
}
