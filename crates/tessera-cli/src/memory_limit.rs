//! Default region limits from the memory this machine has free, so that a slice too fine to
//! hold stops with a message naming `--max-regions` instead of being killed for lack of memory.

/// Bytes a finished slice region costs, all overheads included, in the worst case measured: 1M
/// regions of the MNIST MLP slice (10 outputs, 3 kinked layers) took 1.5 GB resident, 1.84M
/// regions of the small MNIST CNN (10 outputs, 5 kinked layers, conv maps in flight) 7.3 GB,
/// about 4 kB each. Outputs dominate the map of a region, so the estimate grows with them.
fn bytes_per_slice_region(outputs: usize) -> u64 {
    4096 * (outputs.max(10) as u64) / 10
}

/// The default never plans for more than this, so a slice on a shared machine stops (naming
/// `--max-regions`) long before it crowds out everything else.
const MAX_DEFAULT_BUDGET: u64 = 2 << 30;

/// Memory the kernel reports as available (Linux `/proc/meminfo`), if it can be read.
fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Half the available memory, at most 2 GiB (2 GiB where it cannot be read), in slice regions.
pub fn default_slice_max_regions(outputs: usize) -> usize {
    let budget = available_bytes().map_or(MAX_DEFAULT_BUDGET, |b| (b / 2).min(MAX_DEFAULT_BUDGET));
    (budget / bytes_per_slice_region(outputs)).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_fits_in_half_the_available_memory() {
        let limit = default_slice_max_regions(10) as u64;
        let available = available_bytes().unwrap_or(8 << 30);
        assert!(limit * bytes_per_slice_region(10) <= available / 2 + bytes_per_slice_region(10), "{limit}");
        assert!(limit >= 1000, "a limit of {limit} regions is too small to be useful");
        assert!(default_slice_max_regions(1000) < default_slice_max_regions(10));
    }
}
