//! Criterion benchmarks across the mlops-rs crates live in `benches/benches/*.rs`
//! (`cargo bench -p mlops-benches --bench <core|drift|registry|serve>`). This library holds
//! nothing but this note: each bench file generates its own data so that it states its inputs.
