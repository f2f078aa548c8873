//! The `tether` binary: argument parsing and wiring only. The work lives in
//! the library crates.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
