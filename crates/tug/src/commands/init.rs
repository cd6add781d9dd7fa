//! `tug init`: the minimal init `docker run --init` puts at PID 1 of a container.

use clap::Args;

#[derive(Args)]
pub struct InitCli {
    /// The command to run under init, and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn main(a: InitCli) -> i32 {
    runtime::reaper::run(&a.command)
}
