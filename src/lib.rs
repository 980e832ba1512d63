//! Rustbot: a native desktop AI chatbot. The library holds the engine, providers, storage,
//! tools and the doors (CLI, HTTP server, native-messaging host) that drive them.

pub mod agents;
pub mod attachments;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod core;
pub mod engine;
pub mod knowledge;
pub mod llm;
pub mod local;
pub mod logging;
pub mod server;
pub mod store;
pub mod time;
pub mod tools;
pub mod ui;
