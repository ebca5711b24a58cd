//! tessera-data (skeleton)
