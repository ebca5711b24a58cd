//! Checks that can fail: claims of the papers tested on recorded curves through windows and
//! means (never a single extreme point), strict inequalities, and the paper's numbers as ranges.
//! A check a scale cannot show is "not checked at this scale", a third verdict that is never
//! counted as passed.

use std::fmt::Write as _;

use crate::Scale;

/// Why a late-training check is "not checked" at smoke scale.
pub const SMOKE_TOO_SHORT: &str = "smoke runs stop long before this phase";

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The runs of this scale are too short or too small to show the claim.
    NotChecked,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NotChecked => "not checked at this scale",
        }
    }
}

/// One verified claim of a figure, with the numbers it was decided on.
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
}

impl Check {
    /// Pass when `holds`, fail otherwise.
    pub fn new(name: impl Into<String>, holds: bool, detail: impl Into<String>) -> Self {
        let verdict = if holds { Verdict::Pass } else { Verdict::Fail };
        Self { name: name.into(), verdict, detail: detail.into() }
    }

    /// The same check, "not checked at this scale" when `unshowable` (its numbers stay listed).
    pub fn unless(mut self, unshowable: bool, why: &str) -> Self {
        if unshowable {
            self.verdict = Verdict::NotChecked;
            self.detail = format!("{why}; measured: {}", self.detail);
        }
        self
    }

    /// The same check, "not checked" at a scale whose runs stop before late training.
    pub fn late_phase(self, scale: Scale) -> Self {
        self.unless(scale == Scale::Smoke, SMOKE_TOO_SHORT)
    }

    /// The same check, named for one setting of a sweep ("depth 4: …").
    pub fn for_setting(mut self, label: &str) -> Self {
        self.name = format!("{label}: {}", self.name);
        self
    }

    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "name": self.name, "verdict": self.verdict.label(), "detail": self.detail })
    }
}

/// Values at evaluation steps, in step order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curve {
    pub points: Vec<(f64, f64)>,
}

/// Consecutive evaluation points averaged by the windowed statistics.
pub const WINDOW: usize = 3;

impl Curve {
    pub fn new(points: Vec<(f64, f64)>) -> Self {
        Self { points }
    }

    /// Mean of the values at steps in `[from, to]` (NaN when none).
    pub fn mean_over(&self, from: f64, to: f64) -> f64 {
        mean(self.points.iter().filter(|p| p.0 >= from && p.0 <= to).map(|p| p.1))
    }

    /// Mean over the last decade of steps, `[T/10, T]`.
    pub fn last_decade(&self) -> f64 {
        let end = self.points.last().map_or(0.0, |p| p.0);
        self.mean_over(end / 10.0, end)
    }

    /// (first step, mean) of every run of `WINDOW` consecutive points.
    pub fn windows(&self) -> Vec<(f64, f64)> {
        self.points
            .windows(WINDOW.min(self.points.len().max(1)))
            .map(|w| (w[0].0, mean(w.iter().map(|p| p.1))))
            .collect()
    }

    /// The window of highest mean starting at or after `from`.
    pub fn peak_after(&self, from: f64) -> Option<(f64, f64)> {
        self.windows().into_iter().filter(|w| w.0 >= from).max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The ascent's peak: the highest window after the lowest window starting before `early`
    /// (so a high start before a first descent is not taken for it).
    pub fn ascent_peak(&self, early: f64) -> Option<(f64, f64)> {
        self.peak_after(self.trough_in(0.0, early)?.0)
    }

    /// The window of lowest mean starting in `[from, to]`.
    pub fn trough_in(&self, from: f64, to: f64) -> Option<(f64, f64)> {
        self.windows().into_iter().filter(|w| w.0 >= from && w.0 <= to).min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Mean of the first window (the curve's start).
    pub fn start(&self) -> f64 {
        self.windows().first().map_or(f64::NAN, |w| w.1)
    }

    /// First step after `from` whose window mean is below `level`.
    pub fn first_window_below(&self, from: f64, level: f64) -> Option<f64> {
        self.windows().into_iter().find(|w| w.0 > from && w.1 < level).map(|w| w.0)
    }

    /// First step whose window mean reaches `level`.
    pub fn first_window_reaching(&self, level: f64) -> Option<f64> {
        self.windows().into_iter().find(|w| w.1 >= level).map(|w| w.0)
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

fn at(w: Option<(f64, f64)>) -> String {
    w.map_or("none".into(), |(s, v)| format!("{v:.3} (window from step {s})"))
}

/// First descent: the lowest window before `early` is below 0.8 × the starting window.
pub fn first_descent(lc: &Curve, early: f64) -> Check {
    let trough = lc.trough_in(0.0, early);
    let start = lc.start();
    let holds = trough.is_some_and(|t| t.1 < 0.8 * start);
    Check::new(
        "first descent: lowest early window < 0.8 × start",
        holds,
        format!("start {start:.3}, trough {}", at(trough)),
    )
}

/// Ascent: after the early trough, a window rises above 1.2 × the trough.
pub fn ascent(lc: &Curve, early: f64) -> Check {
    let trough = lc.trough_in(0.0, early);
    let peak = trough.and_then(|t| lc.peak_after(t.0));
    let holds = matches!((trough, peak), (Some(t), Some(p)) if p.1 > 1.2 * t.1);
    Check::new("ascent: peak window > 1.2 × early trough", holds, format!("trough {}, peak {}", at(trough), at(peak)))
}

/// Evaluation steps up to which a first descent ends (paper: minimum at ~10–30 steps).
pub const EARLY: f64 = 100.0;

/// Late fall: the mean of the last decade of steps is below `fraction` × the ascent's peak window.
pub fn late_fall(name: &str, lc: &Curve, fraction: f64) -> Check {
    let peak = lc.ascent_peak(EARLY);
    let last = lc.last_decade();
    let holds = peak.is_some_and(|p| last < fraction * p.1);
    Check::new(
        format!("{name}: last-decade mean < {fraction} × peak window"),
        holds,
        format!("last decade {last:.3}, peak {}", at(peak)),
    )
}

/// How much of its ascent peak a curve keeps at the end: the last-decade mean over the ascent's
/// peak window (1 or more: no late descent; NaN without a peak).
pub fn kept_share(lc: &Curve) -> f64 {
    lc.ascent_peak(EARLY).map_or(f64::NAN, |p| lc.last_decade() / p.1)
}

/// `with` keeps strictly more of its peak at the end than `without` (`kept_share`): its late
/// descent is weaker or absent (P1: BN removes the second descent; wd delays it).
pub fn weaker_late_descent(name: &str, with: &Curve, without: &Curve) -> Check {
    let (a, b) = (kept_share(with), kept_share(without));
    Check::new(
        format!("{name}: last-decade mean / peak window is higher than without"),
        a > b,
        format!("kept share {a:.3} vs {b:.3} without"),
    )
}

/// `a` above `b` on average over `[from, to]` (strictly).
pub fn above_over(name: &str, a: &Curve, b: &Curve, from: f64, to: f64) -> Check {
    let (ma, mb) = (a.mean_over(from, to), b.mean_over(from, to));
    Check::new(name, ma > mb, format!("{ma:.3} vs {mb:.3} over steps {}", step_range(from, to)))
}

/// `[from, to]` in whole steps, an infinite end as "end".
fn step_range(from: f64, to: f64) -> String {
    let end = if to.is_finite() { format!("{to:.0}") } else { "end".to_string() };
    format!("{from:.0}–{end}")
}

/// `a` and `b` agree on average over the run: `|mean a − mean b| ≤ tolerance × |mean b|`.
pub fn close_over(name: &str, a: &Curve, b: &Curve, tolerance: f64) -> Check {
    let whole = |c: &Curve| c.mean_over(f64::NEG_INFINITY, f64::INFINITY);
    let (ma, mb) = (whole(a), whole(b));
    Check::new(
        format!("{name} (within {:.0}%)", 100.0 * tolerance),
        (ma - mb).abs() <= tolerance * mb.abs(),
        format!("{ma:.3} vs {mb:.3} (mean over the run)"),
    )
}

/// Delayed robustness: adversarial accuracy over the last decade exceeds its mean over
/// `[1e2, 1e4]` (where it should be ≈ 0) by more than `rise`.
pub fn delayed_robustness(adversarial: &Curve, rise: f64) -> Check {
    let middle = adversarial.mean_over(1e2, 1e4);
    let late = adversarial.last_decade();
    Check::new(
        format!("delayed robustness: last-decade PGD accuracy > mean over steps 1e2–1e4 + {rise}"),
        late > middle + rise,
        format!("steps 1e2–1e4 {middle:.3}, last decade {late:.3}"),
    )
}

/// Grokking: train LC ascends (peak window > 1.2 × start) and its collapse (first window after
/// the peak below 0.8 × peak) begins before test accuracy first reaches 50 % (as a window mean).
pub fn grokking(train_lc: &Curve, test_acc: &Curve) -> Check {
    let start = train_lc.start();
    let peak = train_lc.ascent_peak(EARLY);
    let collapse = peak.and_then(|p| train_lc.first_window_below(p.0, 0.8 * p.1));
    let grok = test_acc.first_window_reaching(0.5);
    let holds = matches!((peak, collapse, grok), (Some(p), Some(c), Some(g)) if p.1 > 1.2 * start && c < g);
    Check::new(
        "grokking: train-LC ascent, and its collapse starts before test accuracy reaches 50 %",
        holds,
        format!(
            "start {start:.3}, peak {}, collapse from step {}, test ≥ 50 % from step {}",
            at(peak),
            step(collapse),
            step(grok)
        ),
    )
}

/// A window's first step as the report shows it, or "none".
fn step(first: Option<f64>) -> String {
    first.map_or_else(|| "none".to_string(), |s| format!("{s:.0}"))
}

/// No first descent: no early window falls below 0.8 × the start.
pub fn no_first_descent(lc: &Curve, early: f64) -> Check {
    let trough = lc.trough_in(0.0, early);
    let start = lc.start();
    let holds = trough.is_some_and(|t| t.1 >= 0.8 * start);
    Check::new(
        "no first descent: every early window ≥ 0.8 × start",
        holds,
        format!("start {start:.3}, lowest {}", at(trough)),
    )
}

/// `value` inside `[low, high]` (a number the paper gives as a range).
pub fn within(name: &str, value: f64, low: f64, high: f64) -> Check {
    Check::new(name, value >= low && value <= high, format!("{value:.3}, expected [{low}, {high}]"))
}

/// Values that must strictly increase along the listed order (a sweep's ordering claim).
pub fn strictly_increasing(name: &str, labelled: &[(String, f64)]) -> Check {
    strictly_ordered(name, labelled, |a, b| b > a)
}

/// Values that must strictly decrease along the listed order.
pub fn strictly_decreasing(name: &str, labelled: &[(String, f64)]) -> Check {
    strictly_ordered(name, labelled, |a, b| b < a)
}

/// At least two values, every neighbouring pair `in_order`; the detail lists them as measured.
fn strictly_ordered(name: &str, labelled: &[(String, f64)], in_order: impl Fn(f64, f64) -> bool) -> Check {
    let holds = labelled.len() >= 2 && labelled.windows(2).all(|w| in_order(w[0].1, w[1].1));
    let mut detail = String::new();
    for (label, v) in labelled {
        let _ = write!(detail, "{label}: {v:.3}; ");
    }
    Check::new(name, holds, detail.trim_end_matches("; ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-spaced steps 0, 1, 2, 5, 10, … up to 1e5.
    fn steps() -> Vec<f64> {
        let mut s = vec![0.0];
        for k in 0..=5 {
            for m in [1.0, 2.0, 5.0] {
                s.push(m * 10f64.powi(k));
            }
        }
        s.retain(|&x| x <= 1e5);
        s
    }

    fn curve(f: impl Fn(f64) -> f64) -> Curve {
        Curve::new(steps().into_iter().map(|s| (s, f(s))).collect())
    }

    /// Start 10, trough 4 around 20 steps, peak 8 around 1e3, then down to 0.5 by 1e5.
    fn double_descent(s: f64) -> f64 {
        match s {
            s if s < 5.0 => 10.0,
            s if s <= 50.0 => 4.0,
            s if s <= 5e3 => 8.0,
            s if s <= 2e4 => 3.0,
            _ => 0.5,
        }
    }

    fn flat(_: f64) -> f64 {
        5.0
    }

    #[test]
    fn first_descent_ascent_and_late_fall_pass_on_a_double_descent_only() {
        let yes = curve(double_descent);
        assert!(first_descent(&yes, 100.0).passed());
        assert!(ascent(&yes, 100.0).passed());
        assert!(late_fall("train LC", &yes, 0.5).passed());
        let no = curve(flat);
        assert!(!first_descent(&no, 100.0).passed());
        assert!(!ascent(&no, 100.0).passed());
        assert!(!late_fall("train LC", &no, 0.5).passed());
    }

    #[test]
    fn late_fall_ignores_a_single_dip() {
        let one_dip = curve(|s| if s == 5e4 { 0.0 } else { 5.0 });
        assert!(!late_fall("random LC", &one_dip, 0.5).passed());
    }

    #[test]
    fn late_fall_measures_against_the_ascent_not_a_high_start() {
        // Falls from 10 to 4, rises to 5, ends at 4: below half the start, not below half the ascent.
        let no_second_descent = curve(|s| {
            if s < 5.0 {
                10.0
            } else if s <= 50.0 || s > 1e4 {
                4.0
            } else {
                5.0
            }
        });
        assert!(!late_fall("train LC", &no_second_descent, 0.5).passed());
    }

    #[test]
    fn weaker_late_descent_needs_more_of_the_peak_kept_at_the_end() {
        let falls = curve(double_descent);
        // Rises from the same trough to 8 and stays there: no late descent.
        let stays = curve(|s| if s <= 50.0 { double_descent(s) } else { 8.0 });
        assert!((kept_share(&stays) - 1.0).abs() < 1e-12);
        assert!(weaker_late_descent("BN", &stays, &falls).passed());
        assert!(!weaker_late_descent("BN", &falls, &stays).passed());
        assert!(!weaker_late_descent("BN", &falls, &falls).passed(), "equal shares are not weaker");
    }

    #[test]
    fn above_over_is_strict() {
        let a = curve(flat);
        assert!(!above_over("train > test", &a, &a, 100.0, 1e4).passed());
        let higher = curve(|s| flat(s) + 1.0);
        assert!(above_over("train > test", &higher, &a, 100.0, 1e4).passed());
    }

    #[test]
    fn step_ranges_show_whole_steps_and_an_open_end() {
        assert_eq!(step_range(189.333, 1704.0), "189–1704");
        assert_eq!(step_range(1e4, f64::INFINITY), "10000–end");
    }

    #[test]
    fn close_over_needs_the_means_within_the_tolerance() {
        assert!(close_over("train ≈ test", &curve(flat), &curve(|_| 5.4), 0.1).passed());
        assert!(!close_over("train ≈ test", &curve(flat), &curve(|_| 6.0), 0.1).passed());
        assert!(!close_over("train ≈ test", &Curve::default(), &curve(flat), 0.1).passed(), "no data");
    }

    #[test]
    fn delayed_robustness_needs_a_late_rise() {
        let rises = curve(|s| if s >= 2e4 { 0.4 } else { 0.0 });
        assert!(delayed_robustness(&rises, 0.1).passed());
        let stays = curve(|_| 0.02);
        assert!(!delayed_robustness(&stays, 0.1).passed());
    }

    #[test]
    fn grokking_needs_an_ascent_and_a_collapse_before_the_test_jump() {
        let lc = curve(|s| {
            if s < 1e3 {
                2.0
            } else if s <= 1e4 {
                10.0
            } else {
                1.0
            }
        });
        let jump_late = curve(|s| if s >= 5e4 { 0.9 } else { 0.2 });
        assert!(grokking(&lc, &jump_late).passed());
        let jump_early = curve(|s| if s >= 200.0 { 0.9 } else { 0.2 });
        assert!(!grokking(&lc, &jump_early).passed(), "test accuracy passes 50 % before the collapse");
        assert!(!grokking(&curve(flat), &jump_late).passed(), "no ascent");
        let never = curve(|_| 0.2);
        assert!(!grokking(&lc, &never).passed(), "no generalization at all");
    }

    #[test]
    fn no_first_descent_fails_on_a_first_descent() {
        assert!(no_first_descent(&curve(|s| 2.0 + s.min(1e3) / 100.0), 100.0).passed());
        assert!(!no_first_descent(&curve(double_descent), 100.0).passed());
    }

    #[test]
    fn within_and_strictly_increasing_are_strict_about_their_bounds_and_order() {
        assert!(within("count", 5.0, 4.0, 6.0).passed());
        assert!(!within("count", 6.5, 4.0, 6.0).passed());
        let label = |v: &[f64]| v.iter().enumerate().map(|(k, &v)| (k.to_string(), v)).collect::<Vec<_>>();
        assert!(strictly_increasing("grows", &label(&[1.0, 2.0, 3.0])).passed());
        assert!(!strictly_increasing("grows", &label(&[1.0, 2.0, 2.0])).passed());
        assert!(!strictly_increasing("grows", &label(&[1.0])).passed());
        assert!(strictly_decreasing("falls", &label(&[3.0, 2.0, 1.0])).passed());
        assert!(!strictly_decreasing("falls", &label(&[3.7, 3.9, 4.4])).passed());
        assert!(!strictly_decreasing("falls", &label(&[2.0, 2.0])).passed());
        let detail = strictly_decreasing("falls", &label(&[3.7, 3.9])).detail;
        assert!(detail.contains("3.700") && !detail.contains("-3.7"), "{detail}");
    }

    #[test]
    fn unless_marks_not_checked_which_never_counts_as_passed() {
        let check = late_fall("train LC", &curve(double_descent), 0.5).unless(true, "smoke runs are short");
        assert_eq!(check.verdict, Verdict::NotChecked);
        assert!(!check.passed());
        assert!(check.detail.starts_with("smoke runs are short; measured:"));
    }

    #[test]
    fn late_phase_is_not_checked_only_at_smoke_scale_and_for_setting_prefixes_the_label() {
        let passing = || late_fall("train LC", &curve(double_descent), 0.5);
        assert_eq!(passing().late_phase(Scale::Smoke).verdict, Verdict::NotChecked);
        assert_eq!(passing().late_phase(Scale::Cpu).verdict, Verdict::Pass);
        assert!(passing().for_setting("depth 4").name.starts_with("depth 4: train LC: last-decade mean"));
    }
}
