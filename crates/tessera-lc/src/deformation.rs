//! Deformation of the LC neighbourhood with depth (P2 Figs. 5, 21, 23): the 2P cross-polytope
//! vertices are embedded through each layer, and the graph on the embedded vertices that joins
//! every pair except the P antipodal ones, weighted by Euclidean distance in the layer's
//! embedding, is summarised by its mean eccentricity and its diameter.
//!
//! A vertex's eccentricity is its largest shortest-path distance to another vertex; the diameter
//! is the largest eccentricity. Euclidean weights obey the triangle inequality, so a joined pair's
//! edge is already a shortest path, and an antipodal pair's shortest path has two edges (a longer
//! path `u, a, .., v` is never shorter than `u, a, v`, whose edge `a v` exists because `a`,
//! being joined to `u`, is not `v`'s antipode). That makes the measures `O(P^2)` per embedding
//! instead of all-pairs shortest paths.

use crate::{Frame, LcError, Result};
use tessera_net::{Mode, Network, Scalar, Tensor};

/// Eccentricity and diameter of one embedded neighbourhood.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GraphMeasures {
    /// Mean over the 2P vertices of the largest shortest-path distance to another vertex.
    pub mean_eccentricity: f64,
    /// The largest shortest-path distance between two vertices.
    pub diameter: f64,
}

/// At most this many points' neighbourhoods are embedded together in one forward pass.
const POINTS_PER_PASS: usize = 64;
/// Values (every node's output over a pass's vertices) one pass may hold: 256 MiB of f64, so
/// that wide conv nets (a ResNet's feature maps) embed fewer points per pass.
const VALUES_PER_PASS: usize = 1 << 25;

/// Points per forward pass for `net` with `vertices` vertices per point (at least 1).
fn points_per_pass<T: Scalar>(net: &Network<T>, vertices: usize) -> usize {
    let per_row: usize = (0..net.nodes().len()).map(|id| net.shape(id).iter().product::<usize>()).sum();
    (VALUES_PER_PASS / (per_row * vertices).max(1)).clamp(1, POINTS_PER_PASS)
}

/// The measures of the neighbourhood graph on `vertices`: 2P rows of `dim` values, row-major,
/// vertex `p` antipodal to vertex `p + P` (the order of [`Frame::vertices`]). Needs P >= 2: with
/// one direction the two vertices are antipodal and the graph has no edge.
pub fn neighbourhood_graph_measures(vertices: &[f64], dim: usize) -> Result<GraphMeasures> {
    let rows = vertices.len().checked_div(dim).unwrap_or(0);
    if dim == 0 || !vertices.len().is_multiple_of(dim) || !rows.is_multiple_of(2) {
        return Err(LcError::NeighbourhoodGraph(format!(
            "{} values are not an even number of vertices of {dim} coordinates",
            vertices.len()
        )));
    }
    let p = rows / 2;
    if p < 2 {
        return Err(LcError::NeighbourhoodGraph(format!(
            "P = {p}: the graph joins no vertices (it needs at least two directions)"
        )));
    }
    let row = |i: usize| &vertices[i * dim..(i + 1) * dim];
    let n = 2 * p;
    let mut distance = vec![0.0; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let d = euclidean(row(i), row(j));
            distance[i * n + j] = d;
            distance[j * n + i] = d;
        }
    }
    let antipode = |i: usize| (i + p) % n;
    let mut eccentricity = vec![0.0f64; n];
    for i in 0..n {
        let a = antipode(i);
        let around = (0..n).filter(|&k| k != i && k != a).map(|k| distance[i * n + k] + distance[k * n + a]);
        let to_antipode = around.fold(f64::INFINITY, f64::min);
        let joined = (0..n).filter(|&k| k != a).map(|k| distance[i * n + k]).fold(0.0, f64::max);
        eccentricity[i] = joined.max(to_antipode);
    }
    Ok(GraphMeasures {
        mean_eccentricity: eccentricity.iter().sum::<f64>() / n as f64,
        diameter: eccentricity.iter().copied().fold(0.0, f64::max),
    })
}

fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
}

/// The neighbourhood graph measures of every point of `centres` (row-major, the network's input
/// width each) at radius `radius` with the directions of `frame`, layer by layer: entry `[i][0]`
/// is point `i`'s input neighbourhood, entry `[i][k]` its vertices embedded by the output of the
/// `k`-th activation layer (batch norm in evaluation mode).
pub fn neighbourhood_deformation<T: Scalar>(
    net: &Network<T>,
    frame: &Frame,
    centres: &[f64],
    radius: f64,
) -> Result<Vec<Vec<GraphMeasures>>> {
    let d = net.input_width();
    frame.check_width(d, "deformation frame")?;
    if !(radius.is_finite() && radius > 0.0) {
        return Err(LcError::BadRadius { value: radius });
    }
    if d == 0 || !centres.len().is_multiple_of(d) {
        return Err(LcError::PointWidth { set: "deformation centres".into(), got: centres.len(), expected: d });
    }
    let layers = net.activation_ids();
    let vertices_per_point = 2 * frame.p();
    let mut measures = Vec::with_capacity(centres.len() / d);
    for chunk in centres.chunks(points_per_pass(net, vertices_per_point) * d) {
        let vertices: Vec<T> = chunk.chunks(d).flat_map(|c| frame.vertices(c, radius)).map(T::from_f64).collect();
        let input = Tensor::from_vec(net.input_shape(), vertices)?;
        let tape = net.forward_tape(&input, Mode::Eval)?;
        let embeddings: Vec<&Tensor<T>> =
            std::iter::once(&tape.values[0]).chain(layers.iter().map(|&id| &tape.values[id])).collect();
        for point in 0..chunk.len() / d {
            let rows = point * vertices_per_point..(point + 1) * vertices_per_point;
            let per_layer = embeddings
                .iter()
                .map(|e| {
                    let width = e.width();
                    let values: Vec<f64> =
                        e.data[rows.start * width..rows.end * width].iter().map(|v| v.to_f64()).collect();
                    neighbourhood_graph_measures(&values, width)
                })
                .collect::<Result<Vec<_>>>()?;
            measures.push(per_layer);
        }
    }
    Ok(measures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tessera_net::{mlp, Activation};

    /// All-pairs shortest paths by Floyd–Warshall on the graph without antipodal edges.
    fn floyd_warshall_measures(vertices: &[f64], dim: usize) -> GraphMeasures {
        let n = vertices.len() / dim;
        let p = n / 2;
        let row = |i: usize| &vertices[i * dim..(i + 1) * dim];
        let mut d = vec![f64::INFINITY; n * n];
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    d[i * n + j] = 0.0;
                } else if (i + p) % n != j {
                    d[i * n + j] = euclidean(row(i), row(j));
                }
            }
        }
        for k in 0..n {
            for i in 0..n {
                for j in 0..n {
                    d[i * n + j] = d[i * n + j].min(d[i * n + k] + d[k * n + j]);
                }
            }
        }
        let ecc: Vec<f64> = (0..n).map(|i| (0..n).map(|j| d[i * n + j]).fold(0.0, f64::max)).collect();
        GraphMeasures {
            mean_eccentricity: ecc.iter().sum::<f64>() / n as f64,
            diameter: ecc.iter().copied().fold(0.0, f64::max),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn hand_made_quadrilateral_has_its_eccentricities_and_diameter() {
        // Vertices 0 and 2, 1 and 3 are antipodal. Edges: 01 = 1, 03 = 3, 12 = 1, 23 = √5.
        // Shortest 0–2: via 1, 2. Shortest 1–3: via 2, 1 + √5. Eccentricities 3, 1 + √5, √5, 1 + √5.
        let v = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 3.0];
        let m = neighbourhood_graph_measures(&v, 2).unwrap();
        let s5 = 5f64.sqrt();
        assert!(close(m.mean_eccentricity, (3.0 + (1.0 + s5) + s5 + (1.0 + s5)) / 4.0), "{m:?}");
        assert!(close(m.diameter, 1.0 + s5), "{m:?}");
    }

    #[test]
    fn a_single_direction_or_ragged_vertices_are_refused_by_name() {
        let e = neighbourhood_graph_measures(&[0.0, 1.0], 1).unwrap_err().to_string();
        assert!(e.contains("P = 1") && e.contains("at least two directions"), "{e}");
        let e = neighbourhood_graph_measures(&[0.0; 5], 2).unwrap_err().to_string();
        assert!(e.contains("5 values are not an even number of vertices of 2 coordinates"), "{e}");
    }

    #[test]
    fn identity_layers_scaled_by_c_scale_the_measures_by_c_per_layer() {
        let mut net = mlp::<f64>(&[3, 3, 3, 2], Activation::LeakyRelu { slope: 1.0 }).unwrap();
        let c = 1.7;
        for (id, scale) in [(1, c), (3, c)] {
            let params = &mut net.params_mut(id).tensors;
            params[0] = (0..9).map(|k| if k % 4 == 0 { scale } else { 0.0 }).collect();
            params[1] = vec![0.5, -1.0, 2.0];
        }
        let frame = Frame::random(3, 2, 4).unwrap();
        let m = neighbourhood_deformation(&net, &frame, &[0.3, -0.2, 1.0], 0.4).unwrap();
        assert_eq!(m[0].len(), 3);
        for (k, layer) in m[0].iter().enumerate() {
            let expected = c.powi(k as i32) * 0.4 * 2.0 * 2f64.sqrt();
            assert!(close(layer.mean_eccentricity, expected) && close(layer.diameter, expected), "{k}: {layer:?}");
        }
    }

    #[test]
    fn wide_conv_nets_embed_fewer_points_per_pass_and_the_split_does_not_change_the_measures() {
        let resnet = tessera_net::preact_resnet18::<f64>([3, 32, 32], 16, 10, false).unwrap();
        let per_pass = points_per_pass(&resnet, 50);
        assert!((1..10).contains(&per_pass), "{per_pass}");
        assert_eq!(points_per_pass(&mlp::<f64>(&[3, 3, 2], Activation::Relu).unwrap(), 50), POINTS_PER_PASS);
        let spec = tessera_net::CnnSpec {
            input: [1, 6, 6],
            convs: vec![tessera_net::ConvLayer { channels: 2, stride: 1, max_pool: 2 }],
            hidden: vec![4],
            classes: 2,
            activation: Activation::Relu,
            batch_norm: false,
        };
        let mut net = tessera_net::cnn::<f64>(&spec).unwrap();
        net.init_pytorch_default(1, 1.0);
        let frame = Frame::random(36, 3, 2).unwrap();
        let centres: Vec<f64> = (0..3 * 36).map(|k| (k as f64 * 0.37).sin()).collect();
        let together = neighbourhood_deformation(&net, &frame, &centres, 0.3).unwrap();
        assert_eq!(together[0].len(), 3, "input, conv ReLU, dense ReLU");
        for (i, centre) in centres.chunks(36).enumerate() {
            let alone = &neighbourhood_deformation(&net, &frame, centre, 0.3).unwrap()[0];
            for (a, b) in alone.iter().zip(&together[i]) {
                assert!(
                    close(a.mean_eccentricity, b.mean_eccentricity) && close(a.diameter, b.diameter),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn two_hop_shortest_paths_equal_floyd_warshall(
            p in 2usize..6, dim in 1usize..5, seed in any::<u64>(),
        ) {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let v: Vec<f64> = (0..2 * p * dim).map(|_| rng.random_range(-3.0..3.0)).collect();
            let fast = neighbourhood_graph_measures(&v, dim).unwrap();
            let slow = floyd_warshall_measures(&v, dim);
            prop_assert!(close(fast.mean_eccentricity, slow.mean_eccentricity), "{fast:?} vs {slow:?}");
            prop_assert!(close(fast.diameter, slow.diameter), "{fast:?} vs {slow:?}");
        }

        #[test]
        fn the_input_cross_polytope_has_eccentricity_and_diameter_two_root_two_r(
            p in 2usize..6, extra in 0usize..4, r in 1e-4f64..10.0, seed in any::<u64>(),
        ) {
            let frame = Frame::random(p + extra, p, seed).unwrap();
            let centre = vec![0.25; p + extra];
            let m = neighbourhood_graph_measures(&frame.vertices(&centre, r), p + extra).unwrap();
            let expected = 2.0 * 2f64.sqrt() * r;
            prop_assert!(close(m.mean_eccentricity, expected) && close(m.diameter, expected), "{m:?}");
        }

        #[test]
        fn measures_scale_with_the_embedding_and_ignore_rotation_and_translation(
            p in 2usize..5, seed in any::<u64>(), scale in 0.01f64..100.0, angle in 0.0f64..6.3, shift in -5.0f64..5.0,
        ) {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let v: Vec<f64> = (0..4 * p).map(|_| rng.random_range(-1.0..1.0)).collect();
            let (s, c) = angle.sin_cos();
            let moved: Vec<f64> = v
                .chunks(2)
                .flat_map(|x| [scale * (c * x[0] - s * x[1]) + shift, scale * (s * x[0] + c * x[1]) - shift])
                .collect();
            let (a, b) = (neighbourhood_graph_measures(&v, 2).unwrap(), neighbourhood_graph_measures(&moved, 2).unwrap());
            prop_assert!(close(b.mean_eccentricity, scale * a.mean_eccentricity), "{a:?} {b:?}");
            prop_assert!(close(b.diameter, scale * a.diameter), "{a:?} {b:?}");
        }
    }
}
