//! The reproduction report: one section per figure with its setup, pictures and checks; a check
//! is PASS, FAIL or "not checked at this scale" (never counted as passed).

use crate::checks::{Check, Verdict};
use crate::figures::{Context, Figure, Outcome};
use crate::Scale;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The result of one figure.
pub struct Entry {
    id: String,
    title: String,
    reference: String,
    setup: String,
    seconds: f64,
    outcome: Result<Outcome, String>,
}

impl Entry {
    pub fn new(fig: &dyn Figure, ctx: &Context, outcome: anyhow::Result<Outcome>, took: Duration) -> Self {
        Self {
            id: fig.id().into(),
            title: fig.title().into(),
            reference: fig.paper_reference().into(),
            setup: fig.setup(ctx.scale),
            seconds: took.as_secs_f64(),
            outcome: outcome.map_err(|e| format!("{e:#}")),
        }
    }

    /// True when the figure failed to run or a check failed.
    pub fn failed(&self) -> bool {
        self.outcome.as_ref().map_or(true, |o| o.checks.iter().any(|c| c.verdict == Verdict::Fail))
    }

    fn count(&self, verdict: Verdict) -> usize {
        self.outcome.as_ref().map_or(0, |o| o.checks.iter().filter(|c| c.verdict == verdict).count())
    }
}

/// Write `report.md` (and `report.json`) into `out`; returns the Markdown path.
pub fn write(out: &Path, scale: Scale, entries: &[Entry]) -> anyhow::Result<PathBuf> {
    let mut md = format!("# tessera figure reproduction ({scale:?} scale)\n\n");
    md.push_str(
        "| figure | paper | pass | fail | not checked at this scale | time |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for e in entries {
        let counts = match &e.outcome {
            Ok(_) => {
                format!("{} | {} | {}", e.count(Verdict::Pass), e.count(Verdict::Fail), e.count(Verdict::NotChecked))
            }
            Err(_) => "error | | ".into(),
        };
        let _ = writeln!(md, "| [{}](#{}) | {} | {counts} | {:.0} s |", e.id, e.id, e.reference, e.seconds);
    }
    for e in entries {
        let _ = write!(md, "\n## {}\n\n**{}** — {}\n\n**Setup.** {}\n\n", e.id, e.title, e.reference, e.setup);
        match &e.outcome {
            Err(err) => {
                let _ = writeln!(md, "**Error.** {err}");
            }
            Ok(o) => write_outcome(&mut md, out, o),
        }
    }
    let path = out.join("report.md");
    std::fs::write(&path, md)?;
    let json: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id, "seconds": e.seconds, "failed": e.failed(),
                "error": e.outcome.as_ref().err(),
                "checks": e.outcome.as_ref().map(|o| o.checks.iter().map(Check::to_json).collect::<Vec<_>>()).unwrap_or_default(),
            })
        })
        .collect();
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&json)?)?;
    Ok(path)
}

fn write_outcome(md: &mut String, out: &Path, o: &Outcome) {
    for image in &o.images {
        let rel = image.strip_prefix(out).unwrap_or(image);
        let _ = writeln!(md, "![{}]({})\n", rel.display(), rel.display());
    }
    if !o.checks.is_empty() {
        md.push_str("| check | result | detail |\n| --- | --- | --- |\n");
        for c in &o.checks {
            let _ = writeln!(md, "| {} | {} | {} |", c.name, c.verdict.label(), c.detail);
        }
    }
    for note in &o.notes {
        let _ = writeln!(md, "\n{note}");
    }
}
