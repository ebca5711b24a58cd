//! Each row's distance to this machine's limit: the floating-point work of the row's unit (a
//! point, a training step) computed plainly, against the rate of tessera's matrix product
//! measured here. A plain LC pass (PyTorch's) sends every vertex through every layer; a training
//! step is the forward product, the input gradients below the first layer and the weight
//! gradients. tessera's LC skips most of that work, so its rate may exceed the plain bound.

use super::{group, median, Dtype, Row, Timing, P, STEP_BATCH, WIDTHS};
use std::time::Instant;
use tessera_net::scalar::{par_gemm, MatRef};
use tessera_net::Scalar;

/// Rows of the product whose rate is measured: the first layer over 2048 vertices or samples,
/// the largest product of both the LC and the training rows.
const GEMM_ROWS: usize = 2048;

/// The plain work of one unit of a row, in FLOPs (a multiply-add counts two).
#[derive(Clone, Copy)]
pub(super) struct Work {
    pub dtype: Dtype,
    pub flops: f64,
}

/// Multiply-adds of one sample through the MLP.
fn mlp_multiply_adds() -> f64 {
    WIDTHS.windows(2).map(|w| (w[0] * w[1]) as f64).sum()
}

/// One point's plain LC pass: its 2P vertices at every radius through the MLP.
pub(super) fn lc_work(dtype: Dtype, radii: usize) -> Work {
    Work { dtype, flops: 2.0 * (radii * 2 * P) as f64 * mlp_multiply_adds() }
}

/// One training step: forward, weight gradients, and input gradients of every layer but the first.
pub(super) fn training_work(dtype: Dtype) -> Work {
    let first_layer = (WIDTHS[0] * WIDTHS[1]) as f64;
    Work { dtype, flops: 2.0 * STEP_BATCH as f64 * (3.0 * mlp_multiply_adds() - first_layer) }
}

/// GFLOP/s of `par_gemm` on the first layer's product over `GEMM_ROWS` rows, f64 and f32:
/// the best of `timing.rounds` measurements of at least `timing.min_seconds` each.
pub(super) fn gemm_rates(timing: Timing) -> [f64; 2] {
    [gemm_rate::<f64>(timing), gemm_rate::<f32>(timing)]
}

fn gemm_rate<T: Scalar>(timing: Timing) -> f64 {
    let (m, k, n) = (GEMM_ROWS, WIDTHS[0], WIDTHS[1]);
    let a: Vec<T> = (0..m * k).map(|i| T::from_f64((i % 255) as f64 / 255.0)).collect();
    let w: Vec<T> = (0..n * k).map(|i| T::from_f64(((i % 97) as f64 - 48.0) / 970.0)).collect();
    let mut out = vec![T::zero(); m * n];
    let mut best = 0.0f64;
    for _ in 0..timing.rounds.max(1) {
        let (started, mut products) = (Instant::now(), 0u32);
        while products == 0 || started.elapsed().as_secs_f64() < timing.min_seconds {
            par_gemm(MatRef::new(&a, m, k), MatRef::transposed(&w, k, n), T::zero(), &mut out);
            products += 1;
        }
        let flops = 2.0 * (m * k * n) as f64 * f64::from(products);
        best = best.max(flops / started.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// The table of limits: per row with a known plain work, the bound at the GEMM's rate and how
/// far each side's median rate is from it.
pub(super) fn render(rows: &[Row], gflops: [f64; 2]) -> String {
    let mut out = format!(
        "\nDistance to the limit: `par_gemm` of ({GEMM_ROWS} x {k}) . ({k} x {n}) runs at {:.1} GFLOP/s f64, \
         {:.1} f32 here; bound = that rate / the unit's plain FLOPs.\n\n\
         | workload | plain MFLOP per unit | bound | tessera / bound | PyTorch / bound |\n\
         | --- | --- | --- | --- | --- |\n",
        gflops[0],
        gflops[1],
        k = WIDTHS[0],
        n = WIDTHS[1],
    );
    for row in rows {
        let Some(work) = row.work else { continue };
        let rate = gflops[matches!(work.dtype, Dtype::F32) as usize] * 1e9;
        let bound = rate / work.flops;
        let torch = row.rates.torch.as_ref().map_or("—".to_string(), |r| format!("{:.2}", median(r) / bound));
        out.push_str(&format!(
            "| {} | {:.1} | {} {} | {:.2} | {torch} |\n",
            row.workload,
            work.flops / 1e6,
            group(bound),
            row.unit,
            median(&row.rates.tessera) / bound,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Rates, Target};

    #[test]
    fn a_rate_at_the_bound_reads_one_and_the_dtype_picks_its_gemm_rate() {
        let row = |dtype| {
            let work = lc_work(dtype, 1);
            let bound = 100e9 / work.flops;
            let rates = Rates { tessera: vec![bound], torch: Some(vec![bound / 2.0]) };
            let (target, note) = (Target::Ratio(4.0), String::new());
            Row { workload: "w".into(), unit: "points/s", rates, target, note, work: Some(work) }
        };
        let table = render(&[row(Dtype::F64), row(Dtype::F32)], [100.0, 200.0]);
        assert!(table.contains("| w | 23.9 | 4.2k points/s | 1.00 | 0.50 |"), "{table}");
        // The f32 row is measured against the f32 rate, twice the f64 one here.
        assert!(table.contains("| w | 23.9 | 8.4k points/s | 0.50 | 0.25 |"), "{table}");
    }

    #[test]
    fn plain_work_counts_every_vertex_and_every_product() {
        // 784*200 + 200*200 + 200*200 + 200*10 = 238,800 multiply-adds per sample.
        assert_eq!(mlp_multiply_adds(), 238_800.0);
        assert_eq!(lc_work(Dtype::F64, 1).flops, 2.0 * 50.0 * 238_800.0);
        assert_eq!(lc_work(Dtype::F64, 3).flops, 3.0 * lc_work(Dtype::F64, 1).flops);
        assert_eq!(training_work(Dtype::F32).flops, 2.0 * 200.0 * (3.0 * 238_800.0 - 156_800.0));
    }
}
