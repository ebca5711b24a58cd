//! tessera-plot (skeleton)
