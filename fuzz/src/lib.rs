//! nanotel's fuzz targets. The logic of each target lives in [`inputs`], which
//! `tests/fuzz_corpus.rs` also includes to replay the corpus under a plain `cargo test`.

pub mod inputs;
