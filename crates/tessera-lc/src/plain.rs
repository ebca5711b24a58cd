//! Counting by forwarding every vertex: through the whole network (`Method::Plain`, the
//! reference algorithm), or from the first kink on after evaluating the leading affine part once
//! per point and once per direction (`Method::AffineShortcut`).

use crate::measure::{CountError, LocalComplexity};
use crate::vertices::{count_groups, vertex_rows, DirRows};
use tessera_net::{Mode, NodeId, OffsetRows, Scalar, Tensor};

/// `[point][radius][layer]` counts with every vertex forwarded through the whole network.
pub(crate) fn count_plain<T: Scalar>(
    lc: &LocalComplexity<T>,
    centers: Tensor<T>,
    dirs: DirRows<T>,
) -> Result<Vec<u32>, CountError> {
    let vertices = vertex_rows(&centers, &dirs, &lc.radii, lc.p());
    let (output, taps) = lc.net.forward_with_taps(&vertices, Mode::Eval, true)?;
    count_tapped_layers(lc, centers.batch, 0, &output, &taps)
}

/// `[point][radius][layer]` counts with the leading affine part evaluated on centres and
/// directions, and vertices built at the first kink: `g(x) ± r L v_p`.
pub(crate) fn count_affine_shortcut<T: Scalar>(
    lc: &LocalComplexity<T>,
    centers: Tensor<T>,
    dirs: DirRows<T>,
) -> Result<Vec<u32>, CountError> {
    let net = lc.net;
    let start = net.leading_affine_len();
    let points = centers.batch;
    let mut leading_centers = vec![centers];
    let mut leading_dirs = vec![dirs];
    for id in 1..start {
        let inputs = &net.node(id).inputs;
        let c: Vec<&Tensor<T>> = inputs.iter().map(|&i| &leading_centers[i]).collect();
        let d: Vec<&DirRows<T>> = inputs.iter().map(|&i| &leading_dirs[i]).collect();
        let center = net.apply_affine(id, &c, OffsetRows::All);
        let dir = lc.affine_dirs(id, &d, points);
        leading_centers.push(center);
        leading_dirs.push(dir);
    }
    let mut earlier = vec![None; start];
    for id in net.values_needed_from(start) {
        earlier[id] = Some(vertex_rows(&leading_centers[id], &leading_dirs[id], &lc.radii, lc.p()));
    }
    drop((leading_centers, leading_dirs));
    let (output, taps) = net.forward_with_taps_from(start, earlier, Mode::Eval, true)?;
    count_tapped_layers(lc, points, start, &output, &taps)
}

/// Count the selected layers from the taps of a forward pass started at node `start` (taps of
/// the activations at or after it, in order) on `[point][radius][vertex]` rows.
fn count_tapped_layers<T: Scalar>(
    lc: &LocalComplexity<T>,
    points: usize,
    start: NodeId,
    output: &Tensor<T>,
    taps: &[Tensor<T>],
) -> Result<Vec<u32>, CountError> {
    let tapped: Vec<NodeId> = lc.net.activation_ids().into_iter().filter(|&id| id >= start).collect();
    let (radii, num_layers) = (lc.radii.len(), lc.layers.len());
    let mut flat = vec![0u32; points * radii * num_layers];
    for (l, layer) in lc.layers.iter().enumerate() {
        let values = if layer.is_output {
            output
        } else {
            let k = tapped.iter().position(|&id| id == layer.node).expect("counted activations lie after the start");
            &taps[k]
        };
        let counts = count_groups(values, 2 * lc.p(), lc.options.zero, lc.layer_kinks(l))
            .map_err(|group| CountError::NotANumber { layer: layer.column.clone(), batch_position: group / radii })?;
        for (group, count) in counts.into_iter().enumerate() {
            flat[group * num_layers + l] = count;
        }
    }
    Ok(flat)
}
