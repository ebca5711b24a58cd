//! # tessera-progress: long work says how far it has got
//!
//! What it is for: the one way tessera's long work (region counts, slices, local complexity,
//! training) reports progress on stderr. On a terminal, an indicatif bar (known total) or
//! spinner; otherwise (a batch job, a pipe, a log file) a plain line two seconds in and then
//! every ten seconds (`TESSERA_PROGRESS_SECONDS` changes the interval), saying what was done
//! so far, the rate, the elapsed time and, with a total, the time left. [`Reporter`] is driven
//! by the loop doing the work; [`watch`] drives one from a second thread while the work runs
//! on this one, reading the work's own progress counters.
//!
//! What it must not do: compute anything, write to stdout, or handle signals (the binaries
//! decide what Ctrl-C does).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// When the first plain line is written (so a short job still says it is alive).
const FIRST_LINE_AFTER: Duration = Duration::from_secs(2);
/// Default interval between plain lines.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Environment variable overriding [`LOG_EVERY`], in seconds (fractions allowed).
pub const INTERVAL_VARIABLE: &str = "TESSERA_PROGRESS_SECONDS";
/// How often [`watch`] refreshes.
const REFRESH: Duration = Duration::from_millis(200);

/// Where progress goes.
enum Output {
    Bar(ProgressBar),
    Lines { next_line: Instant, every: Duration },
    Hidden,
}

/// Progress of one piece of long work, shown as a bar on a terminal and as plain lines
/// elsewhere.
pub struct Reporter {
    label: String,
    total: Option<u64>,
    started: Instant,
    output: Output,
}

/// What the work has done so far, as the caller describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// Units done (steps, points); shown against the total when there is one.
    pub position: u64,
    /// What else to say, e.g. "layer 2/3: 1200 regions (300 regions/s)".
    pub message: String,
    /// Time left, when the caller knows better than the average rate does.
    pub eta: Option<Duration>,
}

impl Reporter {
    /// A reporter for work called `label` (e.g. "slice"), with `total` units if known: a bar or
    /// spinner when stderr is a terminal, plain lines otherwise.
    pub fn new(label: &str, total: Option<u64>) -> Self {
        let output = if std::io::stderr().is_terminal() { Output::Bar(bar(label, total)) } else { lines() };
        Self { label: label.to_string(), total, started: Instant::now(), output }
    }

    /// A reporter that writes plain lines whatever stderr is (for tests of the lines).
    pub fn plain(label: &str, total: Option<u64>) -> Self {
        Self { label: label.to_string(), total, started: Instant::now(), output: lines() }
    }

    /// A reporter that shows nothing (`--quiet`).
    pub fn hidden() -> Self {
        Self { label: String::new(), total: None, started: Instant::now(), output: Output::Hidden }
    }

    /// Whether [`show`](Self::show) would draw or write something now; lets a tight loop skip
    /// building its message.
    pub fn due(&self) -> bool {
        match &self.output {
            Output::Bar(_) => true,
            Output::Lines { next_line, .. } => Instant::now() >= *next_line,
            Output::Hidden => false,
        }
    }

    /// Show `status` (the bar redraws at its own pace; a plain line is written when due).
    pub fn show(&mut self, status: &Status) {
        match &self.output {
            Output::Bar(bar) => {
                bar.set_position(status.position);
                bar.set_message(self.describe(status));
            }
            Output::Lines { next_line, every } if Instant::now() >= *next_line => {
                eprintln!("{}: {}", self.label, self.line(status));
                self.output = Output::Lines { next_line: Instant::now() + *every, every: *every };
            }
            Output::Lines { .. } | Output::Hidden => {}
        }
    }

    /// Units done per second since this reporter was made, at `position` units done.
    pub fn rate(&self, position: u64) -> f64 {
        position as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    /// Take the bar off the screen (plain lines stay where they are).
    pub fn finish(self) {
        if let Output::Bar(bar) = self.output {
            bar.finish_and_clear();
        }
    }

    /// Take the bar off the screen and write `status` as a last plain line (unless hidden).
    pub fn conclude(self, status: &Status) {
        if matches!(self.output, Output::Hidden) {
            return;
        }
        let line = format!("{}: {}", self.label, self.line(&Status { eta: None, ..status.clone() }));
        self.finish();
        eprintln!("{line}");
    }

    /// The bar's message: the caller's words, elapsed time and time left.
    fn describe(&self, status: &Status) -> String {
        let mut text = status.message.clone();
        if let Some(eta) = self.eta(status) {
            text.push_str(&format!(" (ETA {})", clock(eta)));
        }
        text
    }

    /// A plain line: position against total, the caller's words, elapsed time, time left.
    pub fn line(&self, status: &Status) -> String {
        let mut parts = Vec::new();
        if let Some(total) = self.total {
            parts.push(format!("{}/{total}", status.position));
        }
        if !status.message.is_empty() {
            parts.push(status.message.clone());
        }
        parts.push(format!("elapsed {}", clock(self.started.elapsed())));
        if let Some(eta) = self.eta(status) {
            parts.push(format!("ETA {}", clock(eta)));
        }
        parts.join(", ")
    }

    /// The caller's estimate, or the average rate's over what is left.
    fn eta(&self, status: &Status) -> Option<Duration> {
        status.eta.or_else(|| {
            let total = self.total?;
            (status.position > 0).then(|| {
                let left = total.saturating_sub(status.position) as f64 / status.position as f64;
                self.started.elapsed().mul_f64(left)
            })
        })
    }
}

/// `H:MM:SS`.
pub fn clock(duration: Duration) -> String {
    let s = duration.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Run `work` on this thread while a second thread shows `status()` through `reporter` every
/// 200 ms; the reporter is finished when the work returns. `status` may also pass requests
/// on to the work (e.g. cancel it after Ctrl-C): it is called on every refresh.
pub fn watch<R>(reporter: Reporter, status: impl Fn() -> Status + Sync, work: impl FnOnce() -> R) -> R {
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut reporter = reporter;
            while !finished.load(Ordering::SeqCst) {
                let now = status();
                if reporter.due() {
                    reporter.show(&now);
                }
                std::thread::sleep(REFRESH);
            }
            reporter.finish();
        });
        let result = work();
        finished.store(true, Ordering::SeqCst);
        result
    })
}

fn lines() -> Output {
    Output::Lines { next_line: Instant::now() + FIRST_LINE_AFTER.min(interval()), every: interval() }
}

/// The interval between plain lines: `TESSERA_PROGRESS_SECONDS` or ten seconds.
fn interval() -> Duration {
    std::env::var(INTERVAL_VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(LOG_EVERY, Duration::from_secs_f64)
}

fn bar(label: &str, total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(total) => (ProgressBar::new(total), "{prefix} [{bar:30}] {pos}/{len} [{elapsed_precise}] {msg}"),
        None => (ProgressBar::new_spinner(), "{spinner} {prefix}: {msg} [{elapsed_precise}]"),
    };
    let style = ProgressStyle::with_template(template).map(|s| s.progress_chars("=> "));
    bar.set_style(style.unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_says_position_words_elapsed_and_the_callers_eta() {
        let reporter = Reporter::plain("train", Some(100));
        let status = Status { position: 40, message: "loss 0.1".into(), eta: Some(Duration::from_secs(3725)) };
        assert_eq!(reporter.line(&status), "40/100, loss 0.1, elapsed 0:00:00, ETA 1:02:05");
    }

    #[test]
    fn without_a_callers_eta_the_average_rate_estimates_the_time_left() {
        let mut reporter = Reporter::plain("lc", Some(10));
        reporter.started = Instant::now() - Duration::from_secs(20);
        let line = reporter.line(&Status { position: 5, ..Status::default() });
        assert!(line.starts_with("5/10, elapsed 0:00:2") && line.ends_with("ETA 0:00:20"), "{line}");
        let spinner =
            Reporter::plain("count", None).line(&Status { position: 5, message: "9 regions".into(), eta: None });
        assert_eq!(spinner, "9 regions, elapsed 0:00:00");
    }

    #[test]
    fn the_rate_is_units_per_second_since_the_reporter_was_made() {
        let mut reporter = Reporter::plain("lc", Some(100));
        reporter.started = Instant::now() - Duration::from_secs(20);
        let rate = reporter.rate(50);
        assert!(rate > 2.4 && rate <= 2.5, "{rate}");
    }

    #[test]
    fn plain_lines_are_due_two_seconds_in_and_hidden_reporters_never() {
        let reporter = Reporter::plain("x", None);
        assert!(!reporter.due(), "a line right at the start says nothing");
        assert!(!Reporter::hidden().due());
    }

    #[test]
    fn watch_returns_the_works_result() {
        assert_eq!(watch(Reporter::hidden(), Status::default, || 7), 7);
    }
}
