//! Which optimizer steps are evaluated: log-spaced, as the paper's curves are plotted.

/// Step 0 and the distinct integers of `logspace(0, log10(total), count)`, ascending.
///
/// Each value `10^(k·log10(total)/(count-1))` is truncated to an integer as
/// `numpy.logspace(...).astype(int)` does, after a relative nudge of 1e-9 so that values that
/// are integers in exact arithmetic (such as `total` itself) are not truncated one below.
/// The result always starts at 0 and ends at `total` (for `total > 0`); duplicates at small
/// steps are merged, so fewer than `count + 1` steps come back.
pub fn log_spaced_steps(total: u64, count: usize) -> Vec<u64> {
    let mut steps = vec![0];
    if total == 0 {
        return steps;
    }
    let top = (total as f64).log10();
    let last = count.saturating_sub(1).max(1) as f64;
    for k in 0..count.max(1) {
        let value = 10f64.powf(top * k as f64 / last);
        steps.push(((value * (1.0 + 1e-9)).floor() as u64).min(total));
    }
    steps.push(total);
    steps.sort_unstable();
    steps.dedup();
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_zero_ends_at_total_strictly_increasing() {
        for (total, count) in [(100_000, 50), (1, 5), (37, 1), (1000, 4), (10, 100)] {
            let s = log_spaced_steps(total, count);
            assert_eq!(s[0], 0);
            assert_eq!(*s.last().unwrap(), total);
            assert!(s.windows(2).all(|w| w[0] < w[1]), "{s:?}");
        }
    }

    #[test]
    fn powers_of_ten_are_hit_exactly() {
        assert_eq!(log_spaced_steps(1000, 4), vec![0, 1, 10, 100, 1000]);
        let s = log_spaced_steps(100_000, 51);
        assert!(s.contains(&10) && s.contains(&10_000), "{s:?}");
    }

    #[test]
    fn small_steps_merge_duplicates() {
        let s = log_spaced_steps(100_000, 50);
        assert!(s.len() < 51 && s.len() > 35, "{}", s.len());
        assert_eq!(&s[..4], &[0, 1, 2, 3]);
    }
}
