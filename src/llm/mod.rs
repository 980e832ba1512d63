//! Model providers.
pub mod types;
