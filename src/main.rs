//! The `secrets-broker` binary: Grafana plugin mode, standalone server and admin commands.
//! Thin: the CLI lives in [`cli`], everything else in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
