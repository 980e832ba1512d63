//! Rustbot's hand-written CPU kernels, in a crate of their own so they are compiled at
//! opt-level 3 while the application is built for size ("s"): at "s" LLVM neither inlines the
//! small `#[target_feature]` helpers nor the iterator steps of these loops (measured: Q4_1
//! decoding 29 tokens/s at "s", 43 at 3 on SmolLM2-135M; docs/PERFORMANCE.md, issue 20).

pub mod quant;
pub mod rows;
