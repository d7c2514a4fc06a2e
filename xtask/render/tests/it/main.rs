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
mod support;
mod tidy;

// Every call to the container engine goes through the generated project's own module, as
// `cargo xtask docker` makes them: inspect, run, stop, remove.
#[path = "../../../../template/xtask/src/engine.rs"]
#[allow(
    dead_code,
    reason = "the tests neither build images nor copy files out"
)]
mod engine;
// engine.rs reads build logs through its sibling module.
#[path = "../../../../template/xtask/src/buildlog.rs"]
#[allow(dead_code, reason = "only engine.rs's image builds read build logs")]
mod buildlog;
