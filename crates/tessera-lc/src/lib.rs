//! # tessera-lc: local complexity (LC) of piecewise-affine networks
//!
//! What it is for: the statistic of Humayun, Balestriero and Baraniuk, exactly as defined. Around
//! a point `x` take P orthonormal directions `v_p` (a [`Frame`]) and the cross-polytope with the
//! 2P vertices `x ± r v_p`; in every activation layer count the neurons whose pre-activation
//! does not have the same sign on all 2P vertices (their hyperplane cuts the convex hull of the
//! embedded vertices); LC(x) is the sum over layers. Per-layer counts are kept, several radii are
//! measured in one pass, point sets are streamed in bounded batches on all cores, and
//! [`SetSummary`] gives mean, standard deviation and 99% confidence interval per radius and
//! layer.
//!
//! [`neighbourhood_deformation`] measures how the neighbourhood itself is deformed layer by
//! layer (eccentricity and diameter of the graph on its embedded vertices).
//!
//! Options cover the reference code's conventions: counting the output layer
//! ([`LcOptions::reference_compatible`]), how an exact zero counts ([`ZeroSign`]), per-point
//! frames, layer selection. [`Method`] chooses how vertices are evaluated; all methods give the
//! same counts, `Method::Plain` is the reference algorithm.
//!
//! What it must not do: no exact region counting (that is `tessera-regions`), no file formats
//! (callers read points and frames, e.g. `.npy` files through `tessera-data`, and hand them
//! over as a [`PointSource`] or [`Frame::from_rows`]), no training, no printing or progress
//! display.
//!
//! ```
//! use tessera_lc::{Directions, Frame, LcOptions, LocalComplexity};
//! use tessera_net::{mlp, Activation};
//!
//! let mut net = mlp::<f64>(&[4, 8, 8, 2], Activation::Relu).unwrap();
//! net.init_pytorch_default(0, 1.0);
//! let frame = Frame::random(4, 2, 0).unwrap();
//! let lc = LocalComplexity::new(&net, LcOptions::new(Directions::Shared(frame), vec![0.1, 1.0])).unwrap();
//! let counts = lc.count_points(&[0.5, 0.5, 0.5, 0.5]).unwrap();
//! assert_eq!(counts.len(), 2); // one per radius
//! assert!(counts[1].total() <= 16);
//! ```

mod deformation;
mod error;
mod frame;
mod layers;
mod linearized;
mod measure;
mod options;
mod plain;
mod points;
mod sign;
mod stats;
mod vertices;

pub use deformation::{neighbourhood_deformation, neighbourhood_graph_measures, GraphMeasures};
pub use error::{LcError, Result};
pub use frame::{per_point_seed, Frame};
pub use layers::CountedLayer;
pub use measure::{LocalComplexity, PointCounts};
pub use options::{Directions, LayerSelection, LcOptions, Method};
pub use points::{InMemoryPoints, PointBatch, PointSource, UniformBox};
pub use sign::ZeroSign;
pub use stats::{RadiusSummary, SetSummary, Stat, SummaryBuilder};
