//! "Auto" mode: a cheap, local, deterministic choice of agent for a first message, by keyword
//! overlap with each agent's tags, name and description. No model is asked.

use std::collections::BTreeSet;

use super::{AgentRegistry, DEFAULT_AGENT};

/// Weight of a tag or name match; a description word counts 1.
const STRONG: u32 = 3;
/// The least score that beats the default agent.
const THRESHOLD: u32 = 3;

/// Words too common to say anything about the topic.
const STOPWORDS: &[&str] = &[
    "about", "after", "also", "and", "any", "are", "but", "can", "could", "does", "for", "from",
    "have", "help", "helpful", "helps", "how", "into", "like", "make", "more", "not", "that",
    "the", "their", "them", "then", "there", "these", "this", "use", "using", "what", "when",
    "which", "with", "without", "you", "your", "everyday", "general", "tasks",
];

/// The agent auto mode chose and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPick {
    /// The agent's name.
    pub name: String,
    /// Why, in a few words (shown to the user: `agent: coder (matched: rust, compile)`).
    pub reason: String,
}

/// Lower-cased words with common endings removed ("compiling" and "compile" both → "compil").
fn stem(word: &str) -> String {
    let mut w = word.to_lowercase();
    for suffix in ["ing", "ed", "es", "s", "e"] {
        if w.len() >= suffix.len() + 3 && w.ends_with(suffix) {
            w.truncate(w.len() - suffix.len());
            break;
        }
    }
    if w.len() > 4 && w.ends_with('e') {
        w.pop();
    }
    w
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(stem)
        .collect()
}

/// Whether two stems name the same thing: equal, or one a short extension of the other
/// ("debug" / "debugg").
fn same(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 4 && long.len() - short.len() <= 2 && long.starts_with(short)
}

/// Picks the agent whose tags, name or description best match `first_message`; the default
/// agent when nothing matches well. Ties go to the alphabetically first name.
pub fn pick_agent(registry: &AgentRegistry, first_message: &str) -> AgentPick {
    let message = words(first_message);
    let has_word = |kw: &str| message.iter().any(|w| same(w, kw));
    let has_phrase = |phrase: &[String]| {
        message
            .windows(phrase.len())
            .any(|win| win.iter().zip(phrase).all(|(w, p)| same(w, p)))
    };
    let mut best: Option<(u32, &str, Vec<String>)> = None;
    for agent in registry.list() {
        let mut score = 0;
        let mut matched = BTreeSet::new();
        let strong = agent.tags.iter().chain(std::iter::once(&agent.name));
        for keyword in strong {
            let phrase = words(keyword);
            if !phrase.is_empty() && has_phrase(&phrase) && matched.insert(keyword.to_lowercase()) {
                score += STRONG;
            }
        }
        for word in agent.description.split(|c: char| !c.is_alphanumeric()) {
            let lower = word.to_lowercase();
            if lower.len() < 4 || STOPWORDS.contains(&lower.as_str()) {
                continue;
            }
            if has_word(&stem(word)) && matched.insert(lower) {
                score += 1;
            }
        }
        let better = match &best {
            None => true,
            Some((s, _, _)) => score > *s,
        };
        if score > 0 && better {
            best = Some((score, agent.name.as_str(), matched.into_iter().collect()));
        }
    }
    match best {
        Some((score, name, matched)) if score >= THRESHOLD => AgentPick {
            name: name.to_string(),
            reason: format!("matched: {}", matched.join(", ")),
        },
        _ => AgentPick {
            name: registry
                .default_agent()
                .map_or(DEFAULT_AGENT, |a| a.name.as_str())
                .to_string(),
            reason: "no agent matched the message better than the default".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_picked_by_topic() {
        let r = AgentRegistry::builtin();
        let pick = |m: &str| pick_agent(&r, m).name;
        assert_eq!(
            pick("Why does my Rust code fail to compile? The borrow checker error..."),
            "coder"
        );
        assert_eq!(pick("Fix this stack trace from my python script"), "coder");
        assert_eq!(pick("Please proofread this email to my landlord"), "writer");
        assert_eq!(
            pick("How do I find files larger than 1GB with bash?"),
            "shell"
        );
        assert_eq!(pick("What is the capital of Peru?"), "general");
        assert_eq!(pick(""), "general");
    }

    #[test]
    fn the_reason_names_what_matched_and_the_choice_is_stable() {
        let r = AgentRegistry::builtin();
        let a = pick_agent(&r, "debugging a segfault in my program");
        assert_eq!(a, pick_agent(&r, "debugging a segfault in my program"));
        assert_eq!(a.name, "coder");
        assert!(a.reason.contains("debug"), "{}", a.reason);
    }
}
