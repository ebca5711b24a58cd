//! tessera-train (skeleton)
