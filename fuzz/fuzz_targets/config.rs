//! `config.toml` text (`config::Config::parse`) and agent files (`agents::parse_agent`).
//!
//! Properties: no panic; every value derived from a parsed config that the program converts
//! or does arithmetic with stays usable (timeouts added to `Instant::now()`, semaphore sizes);
//! a parsed config saves and parses back to itself; a parsed agent file written back with
//! `to_markdown` parses to the same agent.
#![no_main]

use std::path::Path;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rustbot::agents::{parse_agent, to_markdown};
use rustbot::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new("config.toml")) {
        Ok(config) => {
            let now = Instant::now();
            for timeout in [
                config.network.connect_timeout(),
                config.network.idle_timeout(),
                config.network.max_retry_wait(),
                config.serve.request_timeout(),
                config.serve.header_timeout(),
            ] {
                assert!(now.checked_add(timeout).is_some(), "{timeout:?}");
            }
            // What serve builds from [serve] (tokio panics above MAX_PERMITS).
            let _ = tokio::sync::Semaphore::new(config.serve.connection_slots());
            let _ = tokio::sync::Semaphore::new(config.serve.request_slots());
            if let Ok(saved) = toml::to_string_pretty(&config) {
                let back = Config::parse(&saved, Path::new("config.toml"))
                    .unwrap_or_else(|e| panic!("a saved config does not parse: {e}\n{saved}"));
                // NaN floats are never equal to themselves: compare the saved text instead.
                assert_eq!(
                    toml::to_string_pretty(&back).ok().as_deref(),
                    Some(&saved[..])
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok((agent, _warnings)) = parse_agent(text, Path::new("agent.md")) {
        if let Ok(markdown) = to_markdown(&agent) {
            let (back, _) = parse_agent(&markdown, Path::new("agent.md"))
                .unwrap_or_else(|e| panic!("a written agent does not parse: {e}\n{markdown}"));
            assert_eq!(back.name, agent.name);
            assert_eq!(back.description, agent.description);
            assert_eq!(back.model, agent.model);
            assert_eq!(back.tools, agent.tools);
            assert_eq!(back.tags, agent.tags);
            assert_eq!(back.prompt, agent.prompt);
        }
    }
});
