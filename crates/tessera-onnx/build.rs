//! Compile the vendored ONNX schema into Rust types (prost) with a pure-Rust protobuf compiler,
//! so building needs neither `protoc` nor network access.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = protox::compile(["proto/onnx.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
