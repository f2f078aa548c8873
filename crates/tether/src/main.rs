//! The `tether` binary: argument parsing and wiring only. The work lives in
//! the library crates.

mod agent_cmd;
mod app;
mod audit_cmd;
mod cli;
mod log_format;
mod output;
mod render_cmd;
mod render_limits;
mod serve;
mod token_cmd;
mod up;

fn main() -> std::process::ExitCode {
    // A render worker starts before argument parsing, logging and the async
    // runtime: it is started once per render and must cost little.
    if std::env::args_os().nth(1).as_deref() == Some(render_limits::WORKER_SUBCOMMAND.as_ref()) {
        return tether_render::worker::serve();
    }
    cli::main()
}
