//! tessera-lc (skeleton)
