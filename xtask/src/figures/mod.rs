//! The figure specs. Each figure says which training runs it needs at each scale, produces
//! pictures and data, and checks that the paper's phenomenon appears.

mod conv;
mod dynamics;
mod geometry;
mod grokking_geometry;
mod lc_exact;
mod lc_validation;
mod scales;
mod sweep;

pub use crate::checks::Check;
use crate::runs::{RunRequest, RunStore};
use crate::Scale;
use anyhow::Context as _;
#[cfg(test)]
pub use dynamics::shared_run;
use std::path::{Path, PathBuf};
use tessera_plot::curves::{charts_csv, draw_charts, Chart};
use tessera_train::{MetricsTable, RunConfig};

/// Where and how big a reproduction runs.
pub struct Context {
    pub scale: Scale,
    pub out: PathBuf,
    pub data_dir: Option<PathBuf>,
    /// Seeds per setting in figures that compare settings.
    pub seeds: u64,
    pub store: RunStore,
}

impl Context {
    pub fn new(scale: Scale, out: PathBuf, data_dir: Option<PathBuf>, seeds: u64) -> Self {
        let store = RunStore::new(&out);
        Self { scale, out, data_dir, seeds: seeds.max(1), store }
    }

    /// A figure's own output folder (created).
    pub fn figure_dir(&self, id: &str) -> anyhow::Result<PathBuf> {
        let dir = self.out.join(id);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// `path` as the report shows it: relative to the output folder when inside it (`runs/HASH`).
    pub fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.out).unwrap_or(path).display().to_string()
    }

    /// The resolved config of `file` (relative to the workspace) with `overrides`, reading data
    /// from this reproduction's data folder.
    pub fn config(&self, file: &str, overrides: &[String]) -> anyhow::Result<RunConfig> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut all = overrides.to_vec();
        if let Some(dir) = &self.data_dir {
            all.push(format!("data.dir={}", toml::Value::String(dir.display().to_string())));
        }
        Ok(RunConfig::load(&workspace.join(file), &all)?)
    }

    /// The metrics of the finished run of `config`.
    pub fn metrics(&self, config: &RunConfig) -> anyhow::Result<MetricsTable> {
        Ok(self.store.finished(config)?.1)
    }
}

/// Draw one picture as `dir/STEM.png` and `dir/STEM.svg` (`draw` chooses the format by the
/// extension); the PNG's path, which the report shows.
pub fn png_and_svg(dir: &Path, stem: &str, draw: impl Fn(&Path) -> anyhow::Result<()>) -> anyhow::Result<PathBuf> {
    draw(&dir.join(format!("{stem}.svg")))?;
    let png = dir.join(format!("{stem}.png"));
    draw(&png)?;
    Ok(png)
}

/// Draw `charts` as `dir/STEM.png` and `dir/STEM.svg` and write their data to `dir/STEM.csv`;
/// the PNG's path.
pub fn chart_files(charts: &[Chart], columns: usize, dir: &Path, stem: &str) -> anyhow::Result<PathBuf> {
    let png = png_and_svg(dir, stem, |path| Ok(draw_charts(charts, columns, path)?))?;
    let data = dir.join(format!("{stem}.csv"));
    std::fs::write(&data, charts_csv(charts)).with_context(|| format!("writing {}", data.display()))?;
    Ok(png)
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
    /// The setup at `scale`, in words (networks, data, steps, radii), with every deviation from
    /// the paper.
    fn setup(&self, scale: Scale) -> String;
    /// The training runs the figure reads (trained or found by the run engine beforehand).
    fn runs(&self, _ctx: &Context) -> anyhow::Result<Vec<RunRequest>> {
        Ok(Vec::new())
    }
    /// Draw and check, from finished runs.
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome>;
}

/// Every figure, in report order.
pub fn all() -> Vec<Box<dyn Figure>> {
    let mut figures: Vec<Box<dyn Figure>> = vec![
        Box::new(lc_validation::LinearSanity),
        Box::new(lc_validation::ShiftedNeighbourhood),
        Box::new(dynamics::Dynamics),
        Box::new(dynamics::Layerwise),
        Box::new(geometry::ToySpline),
        Box::new(geometry::ToyFunction),
        Box::new(geometry::Deformation),
        Box::new(lc_exact::LcVsExact),
    ];
    figures.extend(sweep::all().into_iter().map(|s| Box::new(s) as Box<dyn Figure>));
    figures.push(Box::new(grokking_geometry::GrokkingSlices));
    figures.push(Box::new(grokking_geometry::BoundaryDomains));
    figures.extend(conv::sweeps().into_iter().map(|s| Box::new(s) as Box<dyn Figure>));
    figures.push(Box::new(conv::CnnRobustness));
    figures.push(Box::new(conv::ResnetLayerwise));
    figures.push(Box::new(conv::ConvDeformation));
    figures.push(Box::new(conv::ConvSlices));
    figures
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
