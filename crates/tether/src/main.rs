//! The `tether` binary: argument parsing and wiring only. The work lives in
//! the library crates.

mod agent_cmd;
mod app;
mod audit_cmd;
mod cli;
mod log_format;
mod output;
mod render_cmd;
mod up;

fn main() -> std::process::ExitCode {
    cli::main()
}
