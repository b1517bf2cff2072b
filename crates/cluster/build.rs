fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A vendored protoc, so a fresh machine needs no system compiler.
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_protos(&["../../proto/peer.proto"], &["../../proto"])?;
    println!("cargo:rerun-if-changed=../../proto/peer.proto");
    Ok(())
}
