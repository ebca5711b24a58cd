//! The hot loops compiled a second time for AVX2, taken when the CPU has it: the workspace
//! builds for baseline x86-64, whose SSE2 holds two `f64` lanes, AVX2 four. The loops are
//! elementwise (no reductions reordered, and no fused multiply-add: AVX2 alone does not
//! enable it), so every value is bit for bit the one the baseline build computes.

/// Run `f`, compiled with AVX2 when the CPU has it (through inlining into an AVX2 function;
/// keep `f` a closure called here only, marked `#[inline(always)]`: a closure left out of line
/// is compiled for baseline x86-64, as the profile showed for the larger ones).
#[inline(always)]
pub(crate) fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature `run_avx2` is compiled with.
        return unsafe { run_avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
