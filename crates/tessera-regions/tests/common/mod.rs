//! Checks shared by the partition tests: the invariants every exact partition must satisfy.
#![allow(dead_code)]

use std::collections::HashSet;
use tessera_net::{Mode, Network, Tensor};
use tessera_regions::{activation_codes, grid_points, Partition, Point, Polygon, Slice};

/// Relative tolerance of the checks.
pub const REL: f64 = 1e-9;

/// The network's outputs at slice points.
pub fn forward_at(net: &Network<f64>, slice: &Slice, us: &[Point]) -> Vec<Vec<f64>> {
    let x: Vec<f64> = us.iter().flat_map(|&u| slice.point(u)).collect();
    let out = net.forward(&Tensor::from_vec(net.input_shape(), x).unwrap(), Mode::Eval).unwrap();
    (0..out.batch).map(|i| out.row(i).to_vec()).collect()
}

/// Assert the invariants of an exact partition:
/// areas sum to the domain area, regions do not overlap, every region's map and code are the
/// network's at its interior point, and every code met on a `grid x grid` grid is a region's.
pub fn assert_exact_partition(net: &Network<f64>, slice: &Slice, p: &Partition, grid: usize) {
    let total: f64 = p.regions.iter().map(|r| r.area).sum();
    assert!((total - p.domain_area).abs() <= REL * p.domain_area, "areas sum to {total}, domain {}", p.domain_area);
    assert!(p.regions.iter().all(|r| r.area > 0.0), "a region has no area");
    assert_no_overlap(p);
    assert_maps_match_forward(net, slice, p);
    let codes: HashSet<&Vec<u64>> = p.regions.iter().map(|r| &r.code).collect();
    assert_eq!(codes.len(), p.num_regions(), "two regions share a code");
    let us = grid_points(slice, grid).unwrap();
    let x: Vec<f64> = us.iter().flat_map(|&u| slice.point(u)).collect();
    for (u, code) in us.iter().zip(activation_codes(net, &x).unwrap()) {
        assert!(codes.contains(&code), "the pattern at grid point {u:?} is not an enumerated region");
    }
    if let Some(last) = p.layers.last() {
        assert_eq!(last.regions, p.num_regions());
    }
}

fn assert_no_overlap(p: &Partition) {
    let polys: Vec<Polygon> = p.regions.iter().map(|r| Polygon::convex(&r.polygon).unwrap()).collect();
    let boxes: Vec<[f64; 4]> = polys.iter().map(bounding_box).collect();
    for i in 0..polys.len() {
        for j in 0..i {
            let (a, b) = (boxes[i], boxes[j]);
            if a[0] > b[2] || b[0] > a[2] || a[1] > b[3] || b[1] > a[3] {
                continue;
            }
            let overlap = polys[i].intersection(&polys[j]).map_or(0.0, |q| q.area());
            assert!(overlap <= REL * p.domain_area, "regions {i} and {j} overlap by {overlap}");
        }
    }
}

fn bounding_box(p: &Polygon) -> [f64; 4] {
    p.points().iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, q| {
        [b[0].min(q[0]), b[1].min(q[1]), b[2].max(q[0]), b[3].max(q[1])]
    })
}

fn assert_maps_match_forward(net: &Network<f64>, slice: &Slice, p: &Partition) {
    let us: Vec<Point> = p.regions.iter().map(|r| r.interior_point()).collect();
    let x: Vec<f64> = us.iter().flat_map(|&u| slice.point(u)).collect();
    let codes = activation_codes(net, &x).unwrap();
    for ((r, y), code) in p.regions.iter().zip(forward_at(net, slice, &us)).zip(codes) {
        let u = r.interior_point();
        assert_eq!(code, r.code, "the code at the interior point {u:?} is not the region's");
        for (a, b) in r.evaluate(u).iter().zip(&y) {
            assert!((a - b).abs() <= REL * (1.0 + b.abs()), "map gives {a}, forward {b} at {u:?}");
        }
    }
}

/// The number of regions whose polygon the open segment `a b` passes through (with a length
/// above `REL` of the segment's), in order of entry: `(t_enter, region index)`.
pub fn regions_along(p: &Partition, a: Point, b: Point) -> Vec<(f64, usize)> {
    let mut hits = Vec::new();
    for (i, r) in p.regions.iter().enumerate() {
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let n = r.polygon.len();
        for k in 0..n {
            let (p0, p1) = (r.polygon[k], r.polygon[(k + 1) % n]);
            // Inside: cross(p1 - p0, x - p0) >= 0, linear in t along a + t (b - a).
            let at = |x: Point| (p1[0] - p0[0]) * (x[1] - p0[1]) - (p1[1] - p0[1]) * (x[0] - p0[0]);
            let (fa, fb) = (at(a), at(b));
            if fa < 0.0 && fb < 0.0 {
                t1 = -1.0;
                break;
            }
            if fa < 0.0 {
                t0 = t0.max(fa / (fa - fb));
            } else if fb < 0.0 {
                t1 = t1.min(fa / (fa - fb));
            }
        }
        if t1 - t0 > REL {
            hits.push((t0, i));
        }
    }
    hits.sort_by(|x, y| x.0.total_cmp(&y.0));
    hits
}
