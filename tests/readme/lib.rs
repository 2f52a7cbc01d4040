//! The README's Rust examples, compiled and run by `cargo test -p nanotel-readme-examples --doc`
//! (see `build.rs` for the wrapping that lets them use `?`).

#[cfg(doctest)]
#[doc = include_str!(concat!(env!("OUT_DIR"), "/README.md"))]
struct ReadmeExamples;
