//! Hot elementwise loops compiled a second time for wider vectors, taken when the CPU has them:
//! the workspace builds for baseline x86-64, whose SSE2 holds two `f64` lanes, AVX2 four and
//! AVX-512 eight. Meant for loops that are elementwise (no reductions reordered) and use no
//! fused multiply-add (Rust never contracts `a * b + c`), so every value is bit for bit the one
//! the baseline build computes.
//!
//! Pass a closure called here only, marked `#[inline(always)]` where it calls functions: code
//! left out of line is compiled for baseline x86-64 (as profiles showed for larger closures).

/// Run `f`, compiled with AVX2 when the CPU has it (through inlining into an AVX2 function).
#[inline(always)]
pub fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature `run_avx2` is compiled with.
        return unsafe { run_avx2(f) };
    }
    f()
}

/// Run `f` compiled with AVX-512 (F, BW, VL: byte masks from comparisons) when the CPU has it,
/// else as `with_avx2`.
#[inline(always)]
pub fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512 F, BW and VL, the features `run_avx512` is compiled with.
        return unsafe { run_avx512(f) };
    }
    with_avx2(f)
}

#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx512f") && has!("avx512bw") && has!("avx512vl")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}
