//! The parts of the repository's `cargo xtask` that its tests use too.

pub mod registry;
