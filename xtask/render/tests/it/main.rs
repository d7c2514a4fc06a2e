//! The template's tests, in one binary: `cargo test --workspace --locked` (or `cargo xtask test`)
//! runs them. Progress of the slow ones goes to stderr: add `-- --nocapture` to watch it.

mod adopt;
mod answers;
mod deny;
mod docker;
mod lint;
mod lockfile;
mod matrix;
mod plan;
mod private;
mod support;
mod tidy;
mod upgrade;

// Every call to the container engine goes through the tool's own module, as `cargo xtask
// docker` makes them: inspect, run, stop, remove.
use rust_alpine::engine;
