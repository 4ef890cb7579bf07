//! Runnable examples of mlops-rs. The quickstart's logic lives here so that it also runs as a
//! test (`examples/tests/quickstart.rs`); `examples/quickstart.rs` is the thin binary.

pub mod quickstart;
