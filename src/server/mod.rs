//! Doors for other programs: an OpenAI-compatible HTTP API (`rustbot serve`) and a browser
//! native-messaging host (`rustbot native-host`), both over the same engine as the GUI.

pub mod chat;
pub mod completions;
mod embeddings;
pub mod framing;
pub mod guard;
pub mod http;
pub mod install;
pub mod limits;
pub mod native;
mod native_input;
pub mod native_protocol;
pub mod native_routes;
pub mod openai;
mod responses;
pub mod settings;
mod text_completions;

pub use settings::{NativeHostSettings, ServeSettings, ServerApproval};
