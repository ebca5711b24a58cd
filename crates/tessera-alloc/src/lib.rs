//! # tessera-alloc: how the binaries' allocator behaves
//!
//! What it is for: the one setting of mimalloc (the `#[global_allocator]` of the `tessera` and
//! `xtask` binaries) that they share. mimalloc v3 purges freed memory by decommitting it: LC's
//! and the slices' large per-batch row blocks are then faulted back in and zeroed by the kernel
//! at every batch (6,000 faults and ~14 % of the CPU time of an LC pass at r = 0.5). Purging by
//! reset keeps the pages mapped until the system needs them.
//!
//! What it must not do: be a dependency of a library crate (libraries never choose an
//! allocator), or compute anything.

/// `mi_option_purge_decommits` in mimalloc v3's option enum (the sys crate names no constant
/// for it; a test checks the index against the environment variable of that name).
const PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

/// Make mimalloc purge freed memory by reset instead of decommit, unless
/// `MIMALLOC_PURGE_DECOMMITS` in the environment already decides.
///
/// # Safety
///
/// mimalloc's options are not thread safe: call this first in `main`, before any other thread
/// has started.
pub unsafe fn purge_freed_memory_by_reset() {
    if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_none() {
        // SAFETY: no other thread runs (the caller's contract); the option exists in the
        // linked mimalloc v3 (tested below).
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DECOMMITS, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::PURGE_DECOMMITS;

    /// Run in a child process whose mimalloc read `MIMALLOC_PURGE_DECOMMITS=7` at start: the
    /// option at index `PURGE_DECOMMITS` must be the one of that name.
    #[test]
    fn purge_decommits_index_is_the_option_of_that_name() {
        const CHILD: &str = "TESSERA_TEST_MIMALLOC_CHILD";
        if std::env::var_os(CHILD).is_some() {
            // SAFETY: reading an option; the index is in range (checked by mimalloc too).
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DECOMMITS) }, 7);
            return;
        }
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::purge_decommits_index_is_the_option_of_that_name", "--quiet"])
            .env(CHILD, "1")
            .env("MIMALLOC_PURGE_DECOMMITS", "7")
            .status()
            .unwrap();
        assert!(status.success(), "the option at index {PURGE_DECOMMITS} is not purge_decommits");
    }
}
