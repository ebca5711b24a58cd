//! The time a run has left: the recent pace of training steps times the steps left, plus the
//! last evaluation's duration times the evaluations left. Evaluations are log-spaced, so they
//! crowd the first steps; an average over everything so far would count them as slow steps and
//! overestimate the rest of the run many times over.

use std::collections::VecDeque;
use std::time::Duration;

/// Training steps whose times make up the moving window.
const WINDOW: usize = 256;

/// Step and evaluation times seen so far.
#[derive(Debug, Default)]
pub(crate) struct Eta {
    recent: VecDeque<Duration>,
    recent_sum: Duration,
    last_evaluation: Option<Duration>,
}

impl Eta {
    /// One training step took `time`.
    pub fn record_step(&mut self, time: Duration) {
        self.recent.push_back(time);
        self.recent_sum += time;
        if self.recent.len() > WINDOW {
            self.recent_sum -= self.recent.pop_front().unwrap_or_default();
        }
    }

    /// One evaluation (with its checkpoint) took `time`.
    pub fn record_evaluation(&mut self, time: Duration) {
        self.last_evaluation = Some(time);
    }

    /// The time left for `steps` training steps and `evaluations` evaluations; unknown until
    /// a step has been timed.
    pub fn left(&self, steps: u64, evaluations: usize) -> Option<Duration> {
        if self.recent.is_empty() {
            return None;
        }
        let per_step = self.recent_sum.as_secs_f64() / self.recent.len() as f64;
        let per_evaluation = self.last_evaluation.unwrap_or_default().as_secs_f64();
        Some(Duration::from_secs_f64(per_step * steps as f64 + per_evaluation * evaluations as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_estimate_adds_steps_at_the_recent_pace_and_evaluations_at_the_last_cost() {
        let mut eta = Eta::default();
        assert_eq!(eta.left(10, 1), None, "no pace before the first step");
        eta.record_evaluation(ms(500));
        for _ in 0..10 {
            eta.record_step(ms(2));
        }
        assert_eq!(eta.left(1000, 3), Some(ms(2 * 1000 + 500 * 3)));
    }

    #[test]
    fn old_steps_leave_the_window_so_a_changed_pace_shows_within_it() {
        let mut eta = Eta::default();
        for _ in 0..WINDOW {
            eta.record_step(ms(10));
        }
        for _ in 0..WINDOW {
            eta.record_step(ms(1));
        }
        assert_eq!(eta.left(100, 0), Some(ms(100)));
    }
}
