//! The `creel` binary's commands: what each needs before it runs (a configuration, a queue)
//! and what it does.

pub(crate) mod args;
mod commands;
mod jobs;
mod output;

pub(crate) use commands::{Invocation, configured, standalone};
