//! Writing a figure to a PNG or SVG file: the drawing code is written once, generic over the
//! plotters backend.

use crate::error::{PlotError, Result};
use crate::font;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// The file formats a figure can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Raster PNG.
    Png,
    /// Vector SVG.
    Svg,
}

impl Format {
    /// The format named by the extension of `path` (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(PlotError::Format { path: path.to_path_buf() }),
        }
    }
}

/// Something that can draw itself on any plotters backend.
pub(crate) trait Figure {
    /// Draw on `root`; errors are returned as text (plotters' error types differ per backend).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> std::result::Result<(), String>;
}

/// Draw `figure` into `path` (PNG or SVG by extension) at `size` pixels.
pub(crate) fn save(figure: &impl Figure, path: &Path, size: (u32, u32)) -> Result<()> {
    font::ensure_registered();
    let fail = |message: String| PlotError::Draw { path: path.to_path_buf(), message };
    match Format::from_path(path)? {
        Format::Png => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            figure.draw(&root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        Format::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            figure.draw(&root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
    }
}
