//! Local models: GGUF language models and BERT embedding models run in this process with
//! candle (design.md §6), the models folder, and downloads into it.

pub mod bert;
pub mod catalog;
pub mod embed;
pub mod error;
pub mod expand;
pub mod generate;
pub mod gguf;
pub mod kv_cache;
pub mod llama;
pub mod matmul;
pub mod model;
pub mod provider;
pub mod pull;
pub mod quant_dot;
pub mod settings;
pub mod stop_text;
pub mod template;
pub mod tokenizer;

pub use error::LocalError;
pub use provider::LocalProvider;
pub use settings::LocalSettings;
