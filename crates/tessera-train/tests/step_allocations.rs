//! A training loop that keeps its `StepScratch` allocates no large buffer after its first steps:
//! the tape, the loss gradient, the per-node gradients and the convolutions' per-task partial
//! gradients and scratch are all reused. Counted by a global allocator; this file holds one test so that no
//! other test allocates while it counts.
//!
//! Only allocations of Rust's collections count (alignment up to 8 bytes): `matrixmultiply`
//! allocates its packing buffers (aligned to 16 bytes or more) inside every GEMM call, which is
//! the library's and not ours to keep.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tessera_net::{cnn, preact_resnet18, Activation, CnnSpec, ConvLayer, Network, Scalar, Tensor};
use tessera_train::{Loss, Optimizer, OptimizerConfig, Points, StepScratch};

/// Allocations above this many bytes are "large".
const LARGE: usize = 4096;

struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LARGE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

impl CountingAllocator {
    fn note(layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) && layout.size() > LARGE && layout.align() <= 8 {
            LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note(layout);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note(layout);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            Self::note(Layout::from_size_align(new_size, layout.align()).expect("layout"));
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// A tiny CNN on 16x16x3 inputs: stride-1 and stride-2 convolutions, max pooling.
fn tiny_cnn<T: Scalar>(batch_norm: bool) -> Network<T> {
    let spec = CnnSpec {
        input: [3, 16, 16],
        convs: vec![
            ConvLayer { channels: 8, stride: 1, max_pool: 2 },
            ConvLayer { channels: 16, stride: 2, max_pool: 1 },
            ConvLayer { channels: 16, stride: 1, max_pool: 1 },
        ],
        hidden: vec![16],
        classes: 10,
        activation: Activation::Relu,
        batch_norm,
    };
    cnn(&spec).expect("tiny cnn")
}

/// Large allocations (count, largest size) of `steps` training steps of `net` on a batch of
/// `batch` seeded inputs, after `warmup` steps with the same `StepScratch`.
fn large_allocations<T: Scalar>(mut net: Network<T>, batch: usize, warmup: usize, steps: usize) -> (usize, usize) {
    net.init_pytorch_default(0, 1.0);
    let width = net.input_width();
    let inputs: Vec<T> = (0..batch * width).map(|i| T::from_f64((i * 7919 % 1009) as f64 / 1009.0)).collect();
    let labels = (0..batch).map(|i| (i % 10) as u8).collect();
    let points = Points::new(Tensor::from_vec(net.input_shape(), inputs).expect("batch"), labels);
    let lens: Vec<usize> = net.trainable().iter().map(|t| t.len()).collect();
    let mut optimizer = Optimizer::new(OptimizerConfig::default(), &lens).expect("optimizer");
    let mut scratch = StepScratch::with_batch(points);
    let mut step = |net: &mut Network<T>| scratch.step(net, &mut optimizer, Loss::CrossEntropy).expect("step");
    for _ in 0..warmup {
        step(&mut net);
    }
    LARGE_ALLOCATIONS.store(0, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..steps {
        step(&mut net);
    }
    COUNTING.store(false, Ordering::Relaxed);
    (LARGE_ALLOCATIONS.load(Ordering::Relaxed), LARGEST.load(Ordering::Relaxed))
}

fn assert_none_large(name: &str, (count, largest): (usize, usize)) {
    assert_eq!(count, 0, "{name}: {count} allocations over {LARGE} bytes in steps 3 on (largest {largest} bytes)");
}

#[test]
fn cnn_and_resnet_training_steps_after_the_second_allocate_no_large_buffer() {
    assert_none_large("cnn f32", large_allocations(tiny_cnn::<f32>(false), 8, 2, 4));
    assert_none_large("cnn_bn f32", large_allocations(tiny_cnn::<f32>(true), 8, 2, 4));
    // A batch whose loss gradient (128 x 10 values) is large too.
    assert_none_large("cnn_bn f32, batch 128", large_allocations(tiny_cnn::<f32>(true), 128, 2, 2));
    // f64 convolutions take the im2col + GEMM path.
    assert_none_large("cnn_bn f64", large_allocations(tiny_cnn::<f64>(true), 8, 2, 4));
    let resnet = |batch_norm| preact_resnet18::<f32>([3, 32, 32], 2, 10, batch_norm).expect("tiny resnet");
    assert_none_large("resnet f32", large_allocations(resnet(false), 4, 2, 3));
    assert_none_large("resnet_bn f32", large_allocations(resnet(true), 4, 2, 3));
}
