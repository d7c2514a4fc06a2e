//! The `rust-alpine` binary: the same commands as a project's `cargo xtask`, for the image build
//! (the Dockerfile installs it pinned) and for projects without an xtask.

fn main() -> std::process::ExitCode {
    rust_alpine::main()
}
