//! Adam's update of "quiet" elements — gradient exactly zero — without subnormal arithmetic,
//! bit for bit the IEEE result.
//!
//! A weight that stops receiving gradient (a dead ReLU unit, an input pixel that is always 0)
//! has `g = 0`, and its first moment `m ← m + (1-β1)(0 - m)` decays into the subnormal range,
//! where it stays: `(1-β1)·m` rounds to zero once `m` is a few units of the last place. On many
//! x86 cores each vector instruction with a subnormal operand or result takes a microcode assist
//! of about a hundred cycles; on the MNIST MLP trained in f32 (70 % of the first layer's `m`
//! subnormal after a few thousand steps) that made the optimizer a third of the step. Flushing
//! subnormals to zero (FTZ/DAZ) would change results and PyTorch's semantics, so instead:
//!
//! - the parameter: with `g = 0`, the Adam step `t = -step·m / denom` satisfies
//!   `|t| ≤ step·|m| / eps` (up to rounding). When that bound is below half an ulp of the decayed
//!   parameter `a`, `a + t` rounds to `a`; `QuietBounds` turns the condition into one
//!   comparison on `|m|`'s bits;
//! - `m` and `v`, when subnormal: `m + round((1-β1)·(0 - m))` and `round(β2·v) + 0` are integer
//!   multiples of the smallest subnormal: the number of units is `k - round(k·(1-β1))` and
//!   `round(k·β2)` for `m`, `v` of `k` units, computed exactly (`Factor::round_product`).
//!
//! Every other element takes the ordinary formula; the float pipeline sees zeros in place of the
//! subnormals it would otherwise touch, and its results for quiet elements are discarded.

use tessera_net::Scalar;

/// A constant `c` in `[0, 1]` (the `f32` or `f64` value the float formula multiplies by), as
/// the exact `f64` it is; below `2^-900` it is 0, as every product with it rounds to 0 units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Factor(f64);

impl Factor {
    pub(super) fn of(c: f64) -> Self {
        assert!((0.0..=1.0).contains(&c), "Factor::of({c}): outside [0, 1]");
        Self(if c < 2f64.powi(-900) { 0.0 } else { c })
    }

    /// `k·c` rounded to the nearest integer, ties to even, for an integer `0 ≤ k < 2^52`: `y`,
    /// the rounded product, and its exact error `e` (an FMA) decide the two cases where `y`
    /// lands on a half. Only `f64` operations, so that a lane of them vectorises.
    #[inline(always)]
    fn round_product(self, k: u64) -> u64 {
        const TWO_52: f64 = 4_503_599_627_370_496.0;
        let x = f64::from_bits(k | TWO_52.to_bits()) - TWO_52;
        let y = x * self.0;
        let e = x.mul_add(self.0, -y);
        let n = y.round_ties_even();
        let d = y - n;
        let r = n + f64::from(u8::from(d == 0.5 && e > 0.0)) - f64::from(u8::from(d == -0.5 && e < 0.0));
        (r + TWO_52).to_bits() - TWO_52.to_bits()
    }
}

/// The bit-level operations the quiet path needs, for `f32` and `f64`.
pub(super) trait QuietFloat: Scalar {
    /// Bits of the significand, the implicit one included (24, 53).
    const DIGITS: i32;
    /// The smallest positive normal and subnormal values, as `f64`.
    const MIN_POSITIVE: f64;
    const MIN_SUBNORMAL: f64;
    /// Nonzero and subnormal.
    fn is_nonzero_subnormal(self) -> bool;
    /// `+0 ≤ self < ∞` (not NaN, not `-0`), on the bits.
    fn is_nonnegative_finite(self) -> bool;
    /// Nonzero and below `2^(DIGITS + 8)` times the smallest normal: a value whose products
    /// with the step's scalars may be subnormal (a block with one takes `adam`, not the plain
    /// formula).
    fn is_near_subnormal(self) -> bool;
    /// `|self| < bound` for `bound ≥ 0`, on the bits (no float arithmetic on a subnormal).
    fn magnitude_below(self, bound: Self) -> bool;
    /// For a subnormal `self` and constant `c`: `self + round(c·(0 - self))`.
    fn decayed_subnormal(self, c: Factor) -> Self;
    /// For a subnormal `self` and constant `c`: `round(c·self) + 0`.
    fn scaled_subnormal(self, c: Factor) -> Self;
}

/// A subnormal `self` of `k` units as the value of `units(k)` units and the same sign (`+0`
/// for none, as IEEE addition gives when the terms cancel or the product rounds to zero).
trait WithUnits: Sized {
    type Bits;
    fn with_units(self, units: impl FnOnce(Self::Bits) -> Self::Bits) -> Self;
}

macro_rules! quiet_float {
    ($float:ty, $bits:ty) => {
        impl QuietFloat for $float {
            const DIGITS: i32 = <$float>::MANTISSA_DIGITS as i32;
            const MIN_POSITIVE: f64 = <$float>::MIN_POSITIVE as f64;
            const MIN_SUBNORMAL: f64 = <$float>::from_bits(1) as f64;

            #[inline(always)]
            fn is_nonzero_subnormal(self) -> bool {
                let magnitude = self.to_bits() & !(1 << (<$bits>::BITS - 1));
                magnitude != 0 && magnitude < <$float>::MIN_POSITIVE.to_bits()
            }

            #[inline(always)]
            fn is_nonnegative_finite(self) -> bool {
                self.to_bits() < <$float>::INFINITY.to_bits()
            }

            #[inline(always)]
            fn is_near_subnormal(self) -> bool {
                const LIMIT: $float = <$float>::MIN_POSITIVE * (1u64 << (<$float>::MANTISSA_DIGITS + 8)) as $float;
                let magnitude = self.to_bits() & !(1 << (<$bits>::BITS - 1));
                magnitude != 0 && magnitude < LIMIT.to_bits()
            }

            #[inline(always)]
            fn magnitude_below(self, bound: Self) -> bool {
                (self.to_bits() & !(1 << (<$bits>::BITS - 1))) < bound.to_bits()
            }

            #[inline(always)]
            fn decayed_subnormal(self, c: Factor) -> Self {
                // c·k rounds to r ≤ k units: the sum is k - r units.
                self.with_units(|k| k - c.round_product(k as u64) as $bits)
            }

            #[inline(always)]
            fn scaled_subnormal(self, c: Factor) -> Self {
                self.with_units(|k| c.round_product(k as u64) as $bits)
            }
        }

        impl WithUnits for $float {
            type Bits = $bits;

            #[inline(always)]
            fn with_units(self, units: impl FnOnce($bits) -> $bits) -> Self {
                let sign = self.to_bits() & (1 << (<$bits>::BITS - 1));
                let new = units(self.to_bits() & !sign);
                <$float>::from_bits(if new == 0 { 0 } else { sign | new })
            }
        }
    };
}

quiet_float!(f32, u32);
quiet_float!(f64, u64);

/// The per-step constants of the quiet path.
#[derive(Clone, Copy, Debug)]
pub(super) struct QuietBounds<T> {
    /// A parameter `a` with `|m| < |a|·m_per_a` and `|a| > a_floor` is left at `a`.
    m_per_a: T,
    a_floor: T,
    one_minus_beta1: Factor,
    beta2: Factor,
}

impl<T: QuietFloat> QuietBounds<T> {
    /// Bounds for a step of size `step_size` with Adam's `eps`, `1-β1` and `β2` (the values
    /// the float formula uses). With `eps = 0` or a zero step there is no quiet path.
    pub(super) fn new(step_size: T, eps: T, one_minus_beta1: T, beta2: T) -> Self {
        let (step, eps) = (step_size.to_f64().abs(), eps.to_f64());
        // |t| ≤ (step·|m|·(1 + 2^-p) + d/2) / eps · (1 + 2^-p) + d/2 must stay below half an ulp
        // of a, which exceeds |a|·2^-(p+1): each of the first two terms is kept below
        // |a|·2^-(p+4), and |a|·m_per_a is kept normal so that its own rounding is relative.
        let margin = 2f64.powi(T::DIGITS + 4);
        let m_per_a = eps / (margin * step);
        let usable = step > 0.0 && m_per_a.is_finite() && m_per_a >= T::MIN_POSITIVE * 2f64.powi(T::DIGITS);
        let a_floor = (margin * T::MIN_SUBNORMAL / eps).max(T::MIN_POSITIVE * 2f64.powi(T::DIGITS) / m_per_a);
        let (m_per_a, a_floor) = if usable { (m_per_a, a_floor) } else { (0.0, f64::INFINITY) };
        Self {
            m_per_a: T::from_f64(m_per_a),
            a_floor: T::from_f64(a_floor),
            one_minus_beta1: Factor::of(one_minus_beta1.to_f64()),
            beta2: Factor::of(beta2.to_f64()),
        }
    }
}

/// The scalars of an Adam step the element update reads.
#[derive(Clone, Copy, Debug)]
pub(super) struct AdamScalars<T> {
    pub weight_decay: T,
    /// `1 - lr·wd` (AdamW's decoupled decay factor).
    pub decay_factor: T,
    pub one_minus_beta1: T,
    pub beta2: T,
    pub one_minus_beta2: T,
    /// `lr / (1 - β1^t)`.
    pub step_size: T,
    /// `sqrt(1 - β2^t)`.
    pub bias_correction2_sqrt: T,
    pub eps: T,
}

impl<T: Scalar> AdamScalars<T> {
    /// The same scalars in `U` (exact when `U` is `T`, the one use).
    pub(super) fn cast<U: Scalar>(&self) -> AdamScalars<U> {
        let to = |x: T| U::from_f64(x.to_f64());
        AdamScalars {
            weight_decay: to(self.weight_decay),
            decay_factor: to(self.decay_factor),
            one_minus_beta1: to(self.one_minus_beta1),
            beta2: to(self.beta2),
            one_minus_beta2: to(self.one_minus_beta2),
            step_size: to(self.step_size),
            bias_correction2_sqrt: to(self.bias_correction2_sqrt),
            eps: to(self.eps),
        }
    }
}

/// One element of Adam (`decoupled`: AdamW), exactly as the plain formula
///
/// ```text
/// a = decoupled ? p·(1 - lr·wd) : p;   g = decoupled ? g : g + wd·p
/// m = m + (1-β1)·(g - m);   v = v·β2 + (1-β2)·g·g
/// p = a + (-step)·m / (sqrt(v) / sqrt(1-β2^t) + eps)
/// ```
///
/// with quiet elements (see the module doc) computed without subnormal arithmetic. Written
/// without branches so that a lane of elements vectorises.
#[inline(always)]
pub(super) fn adam<T: QuietFloat>(
    p: &mut T,
    g: T,
    m: &mut T,
    v: &mut T,
    s: &AdamScalars<T>,
    q: &QuietBounds<T>,
    decoupled: bool,
) {
    let a = if decoupled { *p * s.decay_factor } else { *p };
    let g = if decoupled { g } else { g + s.weight_decay * *p };
    let quiet = is_quiet(a, g, *m, *v, q);
    let m_exact = quiet && m.is_nonzero_subnormal();
    let v_exact = quiet && v.is_nonzero_subnormal();
    let m_in = if m_exact { T::zero() } else { *m };
    let v_in = if v_exact { T::zero() } else { *v };
    let m_float = m_in + s.one_minus_beta1 * (g - m_in);
    let v_float = v_in * s.beta2 + s.one_minus_beta2 * g * g;
    let (m_step, v_step) = if quiet { (T::zero(), T::zero()) } else { (m_float, v_float) };
    let denom = v_step.sqrt() / s.bias_correction2_sqrt + s.eps;
    let p_float = a + -s.step_size * m_step / denom;
    *p = if quiet { a } else { p_float };
    *m = if m_exact { m.decayed_subnormal(q.one_minus_beta1) } else { m_float };
    *v = if v_exact { v.scaled_subnormal(q.beta2) } else { v_float };
}

/// Whether the element (decayed parameter `a`, gradient `g`, moments `m`, `v`) is quiet: `g` is
/// zero and the Adam step is below half an ulp of `a`, so the parameter stays `a` (which needs
/// `a` finite and the denominator at least `eps`: `v` finite and not negative).
#[inline(always)]
fn is_quiet<T: QuietFloat>(a: T, g: T, m: T, v: T, q: &QuietBounds<T>) -> bool {
    let a = a.abs();
    g == T::zero()
        && v.is_nonnegative_finite()
        && a.is_nonnegative_finite()
        && a > q.a_floor
        && m.magnitude_below(a * q.m_per_a)
}

/// The plain formula of `adam`, for any `Scalar` (the reference the tests compare against).
#[inline(always)]
pub(super) fn adam_plain<T: Scalar>(p: &mut T, g: T, m: &mut T, v: &mut T, s: &AdamScalars<T>, decoupled: bool) {
    let g = if decoupled {
        *p *= s.decay_factor;
        g
    } else {
        g + s.weight_decay * *p
    };
    *m += s.one_minus_beta1 * (g - *m);
    *v = *v * s.beta2 + s.one_minus_beta2 * g * g;
    let denom = v.sqrt() / s.bias_correction2_sqrt + s.eps;
    *p += -s.step_size * *m / denom;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// PyTorch's default AdamW scalars at step `t` in `T`, as `Optimizer::scalars` makes them.
    fn scalars<T: Scalar>(lr: f64, wd: f64, betas: [f64; 2], eps: f64, t: i32) -> AdamScalars<T> {
        AdamScalars {
            weight_decay: T::from_f64(wd),
            decay_factor: T::from_f64(1.0 - lr * wd),
            one_minus_beta1: T::from_f64(1.0 - betas[0]),
            beta2: T::from_f64(betas[1]),
            one_minus_beta2: T::from_f64(1.0 - betas[1]),
            step_size: T::from_f64(lr / (1.0 - betas[0].powi(t))),
            bias_correction2_sqrt: T::from_f64((1.0 - betas[1].powi(t)).sqrt()),
            eps: T::from_f64(eps),
        }
    }

    fn bounds<T: QuietFloat>(s: &AdamScalars<T>) -> QuietBounds<T> {
        QuietBounds::new(s.step_size, s.eps, s.one_minus_beta1, s.beta2)
    }

    /// `(p, m, v)` after one element update by `adam` and by `adam_plain`, as bits.
    fn both<T: QuietFloat>(x: [T; 4], s: &AdamScalars<T>, decoupled: bool) -> [[f64; 3]; 2] {
        let [mut p, g, mut m, mut v] = x;
        adam(&mut p, g, &mut m, &mut v, s, &bounds(s), decoupled);
        let [mut p2, _, mut m2, mut v2] = x;
        adam_plain(&mut p2, g, &mut m2, &mut v2, s, decoupled);
        [[p, m, v].map(T::to_f64), [p2, m2, v2].map(T::to_f64)]
    }

    fn same_bits(a: [f64; 3], b: [f64; 3]) -> bool {
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    fn matches_plain<T: QuietFloat>(x: [T; 4], s: &AdamScalars<T>, decoupled: bool) -> Result<(), TestCaseError> {
        let [ours, plain] = both(x, s, decoupled);
        prop_assert!(same_bits(ours, plain), "{x:?}: {ours:?} vs {plain:?}");
        Ok(())
    }

    /// Values from every class the update meets: signed zeros, subnormals (few units and
    /// many), the normal range's edge, ordinary and huge values, infinities and NaN.
    fn value_bits(bits: u32) -> impl Strategy<Value = u64> {
        let (sub, min_normal, one, max) = if bits == 32 {
            (0x7f_ffffu64, 0x80_0000u64, 0x3f80_0000u64, 0x7f7f_ffffu64)
        } else {
            ((1u64 << 52) - 1, 1u64 << 52, 0x3ff0_0000_0000_0000u64, 0x7fef_ffff_ffff_ffffu64)
        };
        let inf = max + 1;
        let sign = 1u64 << (bits - 1);
        let magnitude = prop_oneof![
            Just(0u64),
            1u64..8,
            1u64..=sub,
            min_normal..min_normal * 64,
            min_normal..one,
            one - (1 << (bits / 2))..one + (1 << (bits / 2)),
            one..=max,
            Just(inf),
            Just(inf + 1),
        ];
        (magnitude, any::<bool>()).prop_map(move |(m, negative)| m | if negative { sign } else { 0 })
    }

    fn f32s() -> impl Strategy<Value = f32> {
        value_bits(32).prop_map(|b| f32::from_bits(b as u32))
    }

    fn f64s() -> impl Strategy<Value = f64> {
        value_bits(64).prop_map(f64::from_bits)
    }

    /// Hyper-parameters: PyTorch's defaults, and random ones including the edges
    /// (`eps = 0`, `lr = 0`, `β1 = 0`, `β2 = 0`).
    fn hyper() -> impl Strategy<Value = (f64, f64, [f64; 2], f64, i32, bool)> {
        let lr = prop_oneof![Just(1e-3), Just(0.0), 1e-6f64..10.0];
        let wd = prop_oneof![Just(0.01), Just(0.0), 0.0f64..1.0];
        let beta = |d: f64| prop_oneof![Just(d), Just(0.0), 0.0f64..0.999_999];
        let eps = prop_oneof![Just(1e-8), Just(0.0), 1e-30f64..1.0];
        (lr, wd, (beta(0.9), beta(0.999)), eps, 1i32..100_000, any::<bool>())
            .prop_map(|(lr, wd, (b1, b2), eps, t, decoupled)| (lr, wd, [b1, b2], eps, t, decoupled))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn f32_update_equals_the_plain_formula_bit_for_bit(
            (p, g, m, v) in (f32s(), prop_oneof![Just(0.0f32), Just(-0.0f32), f32s()], f32s(), f32s()),
            (lr, wd, betas, eps, t, decoupled) in hyper(),
        ) {
            matches_plain([p, g, m, v], &scalars::<f32>(lr, wd, betas, eps, t), decoupled)?;
        }

        #[test]
        fn f64_update_equals_the_plain_formula_bit_for_bit(
            (p, g, m, v) in (f64s(), prop_oneof![Just(0.0f64), Just(-0.0f64), f64s()], f64s(), f64s()),
            (lr, wd, betas, eps, t, decoupled) in hyper(),
        ) {
            matches_plain([p, g, m, v], &scalars::<f64>(lr, wd, betas, eps, t), decoupled)?;
        }

        #[test]
        fn products_round_to_nearest_even_like_exact_integers(k in 0u64..1 << 52, c in 0.0f64..=1.0) {
            // The exact product k·c as an integer over 2^shift, c being mantissa·2^-shift.
            let (mantissa, exponent) = num_parts(c);
            let exact = k as u128 * mantissa as u128;
            let shift = (-exponent) as u32;
            let expected = if shift >= 128 { 0 } else {
                let (q, rem) = (exact >> shift, exact & ((1u128 << shift) - 1));
                let half = 1u128 << (shift - 1);
                (q + u128::from(rem > half || (rem == half && q % 2 == 1))) as u64
            };
            prop_assert_eq!(Factor::of(c).round_product(k), expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5_000, max_global_rejects: 100_000, ..ProptestConfig::default() })]

        #[test]
        fn quiet_f32_elements_equal_the_plain_formula_bit_for_bit(
            p in prop_oneof![1e-30f32..1e-20, 1e-4f32..10.0], negative in any::<bool>(),
            m_units in prop_oneof![1u32..8, 1u32..0x80_0000, 0x80_0000u32..0x100_0000],
            v_units in prop_oneof![0u32..0x80_0000, 0x80_0000u32..0x3000_0000],
            (lr, wd, betas, eps, t, _) in hyper(),
        ) {
            let decoupled = true;
            let p = if negative { -p } else { p };
            let m = f32::from_bits(m_units | if negative { 0 } else { 1 << 31 });
            let v = f32::from_bits(v_units);
            let s = scalars::<f32>(lr, wd, betas, eps, t);
            let a = if decoupled { p * s.decay_factor } else { p };
            prop_assume!(is_quiet(a, if decoupled { 0.0 } else { s.weight_decay * p }, m, v, &bounds(&s)));
            matches_plain([p, 0.0, m, v], &s, decoupled)?;
        }
    }

    #[test]
    fn a_dead_unit_decays_exactly_through_the_quiet_path() {
        // A weight of 0.05 whose gradient stops at step 10: m decays through the subnormals
        // and sticks at a few units; v decays for long enough to become subnormal in f32.
        let s = scalars::<f32>(1e-3, 0.01, [0.9, 0.999], 1e-8, 10);
        let q = bounds(&s);
        let (mut p, mut m, mut v) = (0.05f32, 3e-6f32, 1e-12f32);
        let (mut p2, mut m2, mut v2) = (p, m, v);
        let mut quiet_subnormal_steps = 0;
        for _ in 0..60_000 {
            if is_quiet(p * s.decay_factor, 0.0, m, v, &q) && m.is_nonzero_subnormal() {
                quiet_subnormal_steps += 1;
            }
            adam(&mut p, 0.0, &mut m, &mut v, &s, &q, true);
            adam_plain(&mut p2, 0.0, &mut m2, &mut v2, &s, true);
            assert_eq!([p, m, v].map(f32::to_bits), [p2, m2, v2].map(f32::to_bits));
        }
        assert!(m.is_nonzero_subnormal() && v.is_nonzero_subnormal(), "m {m:e}, v {v:e}");
        assert!(quiet_subnormal_steps > 59_000, "{quiet_subnormal_steps} quiet steps with m subnormal");
    }

    #[test]
    fn quiet_needs_a_zero_gradient_and_a_parameter_far_above_the_step() {
        let s = scalars::<f32>(1e-3, 0.01, [0.9, 0.999], 1e-8, 10);
        let q = bounds(&s);
        let m = f32::from_bits(3);
        assert!(is_quiet(0.05, 0.0, m, 1e-9, &q) && is_quiet(-0.05, -0.0, m, 0.0, &q));
        assert!(!is_quiet(0.05, 1e-30, m, 1e-9, &q), "a nonzero gradient");
        assert!(!is_quiet(1e-33, 0.0, m, 1e-9, &q), "a parameter within the step's reach");
        assert!(!is_quiet(0.05, 0.0, 1e-3, 1e-9, &q), "a first moment that still moves the parameter");
        let no_eps = scalars::<f32>(1e-3, 0.01, [0.9, 0.999], 0.0, 10);
        assert!(!is_quiet(f32::INFINITY, 0.0, m, 1e-9, &q), "a = inf: inf - inf may follow");
        assert!(!is_quiet(0.05, 0.0, m, f32::INFINITY, &q), "v = inf: the denominator may be NaN");
        assert!(!is_quiet(0.05, 0.0, m, -1e-9, &q), "v < 0: the denominator is NaN");
        assert!(!is_quiet(0.05, 0.0, m, 1e-9, &bounds(&no_eps)), "eps = 0: the step is not bounded");
    }

    /// `c = mantissa · 2^exponent` with an integer mantissa (`c` in `[0, 1]`, normal or not).
    fn num_parts(c: f64) -> (u64, i32) {
        let bits = c.to_bits();
        let biased = (bits >> 52) as i32;
        let fraction = bits & ((1 << 52) - 1);
        if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | 1 << 52, biased - 1075)
        }
    }

    #[test]
    fn products_on_a_half_round_to_even_and_tiny_factors_to_zero() {
        // 5·0.5 = 2.5 -> 2, 7·0.5 = 3.5 -> 4, 3·0.25 = 0.75 -> 1, 1·0.5 -> 0 (tie, even).
        for (k, c, expected) in [(5u64, 0.5, 2u64), (7, 0.5, 4), (3, 0.25, 1), (1, 0.5, 0), (9, 1.0, 9), (9, 0.0, 0)] {
            assert_eq!(Factor::of(c).round_product(k), expected, "{k}·{c}");
        }
        // Just above and below a half: the FMA's error term decides.
        let c = 0.1f64; // slightly above 1/10
        assert_eq!(Factor::of(c).round_product(5), 1, "5·0.1 is a hair above 0.5");
        assert_eq!(Factor::of(f64::from_bits(1)).round_product((1 << 52) - 1), 0);
    }
}
