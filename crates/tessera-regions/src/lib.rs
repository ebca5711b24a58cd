//! tessera-regions (skeleton)
