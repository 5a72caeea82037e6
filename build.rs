//! Compiles proto/*.proto into Rust with pure-Rust tools (protox + tonic-prost-build): building the
//! crate needs nothing but cargo, no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/secretsmanager.proto",
        "proto/grpc_controller.proto",
        "proto/diagnostics.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
