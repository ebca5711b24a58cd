//! The figure specs. Each figure says what it runs at each scale, produces pictures, and checks
//! that the paper's phenomenon appears.

mod lc_validation;
mod mnist;

use crate::Scale;
use std::path::PathBuf;

/// Where and how big a reproduction runs.
pub struct Context {
    pub scale: Scale,
    pub out: PathBuf,
    pub data_dir: Option<PathBuf>,
}

impl Context {
    /// A figure's own output folder (created).
    pub fn figure_dir(&self, id: &str) -> anyhow::Result<PathBuf> {
        let dir = self.out.join(id);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}

/// One verified claim of a figure.
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, passed: bool, detail: impl Into<String>) -> Self {
        Self { name: name.into(), passed, detail: detail.into() }
    }
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "name": self.name, "passed": self.passed, "detail": self.detail })
    }
}

/// What a figure produced.
#[derive(Default)]
pub struct Outcome {
    pub images: Vec<PathBuf>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

/// A figure of the paper as a runnable spec.
pub trait Figure {
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// Which figure(s) of which paper this reproduces.
    fn paper_reference(&self) -> &'static str;
    /// The setup at `scale`, in words (networks, data, steps, radii).
    fn setup(&self, scale: Scale) -> String;
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome>;
}

/// Every figure, in report order.
pub fn all() -> Vec<Box<dyn Figure>> {
    vec![
        Box::new(lc_validation::LinearSanity),
        Box::new(lc_validation::ShiftedNeighbourhood),
        Box::new(mnist::Dynamics),
        Box::new(mnist::Grokking),
    ]
}

/// The figures named in `only` (all when empty); unknown ids are an error listing the known ones.
pub fn select(only: &[String]) -> anyhow::Result<Vec<Box<dyn Figure>>> {
    let figures = all();
    if only.is_empty() {
        return Ok(figures);
    }
    let known: Vec<&str> = figures.iter().map(|f| f.id()).collect();
    if let Some(bad) = only.iter().find(|id| !known.contains(&id.as_str())) {
        anyhow::bail!("unknown figure '{bad}'; known figures: {}", known.join(", "));
    }
    Ok(figures.into_iter().filter(|f| only.iter().any(|id| id == f.id())).collect())
}
