//! The template's tests, in one binary: `cargo test --workspace --locked` (or `cargo xtask test`)
//! runs them. Progress of the slow ones goes to stderr: add `-- --nocapture` to watch it.

mod answers;
mod deny;
mod docker;
mod lint;
mod lockfile;
mod matrix;
mod support;
mod tidy;
