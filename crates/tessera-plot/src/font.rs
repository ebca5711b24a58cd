//! The embedded font: DejaVu Sans, registered once so text renders without system fonts.

use std::sync::Once;

/// The family name under which the embedded font is registered.
pub const FAMILY: &str = "sans-serif";

/// Register DejaVu Sans for plotters (idempotent).
pub fn ensure_registered() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use plotters::style::FontStyle;
        // The bytes are a valid TrueType font shipped by the `dejavu` crate.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold());
    });
}
