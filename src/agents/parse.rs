//! One agent file: `---` YAML front matter `---`, then the Markdown body (the system prompt).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::edit::AgentEditError;
use super::{Agent, AgentLoadError, AgentSource};

/// The front-matter fields Rustbot reads; anything else is reported as unknown.
const KNOWN_FIELDS: [&str; 7] = [
    "name",
    "description",
    "model",
    "temperature",
    "tools",
    "tags",
    "knowledge",
];

/// `tools` and `tags` may be written as a YAML list or as one comma-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrString {
    List(Vec<String>),
    Text(String),
}

impl ListOrString {
    fn into_vec(self) -> Vec<String> {
        match self {
            ListOrString::List(v) => v,
            ListOrString::Text(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        }
    }
}

#[derive(Deserialize)]
struct FrontMatterIn {
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    tools: Option<ListOrString>,
    #[serde(default)]
    tags: Option<ListOrString>,
    #[serde(default)]
    knowledge: Option<ListOrString>,
}

#[derive(Serialize)]
struct FrontMatterOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [String]>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    knowledge: &'a [String],
}

/// The front matter's text, the file line it starts on, and the body.
struct Split<'a> {
    yaml: &'a str,
    /// File line of the first front-matter line (the one after `---`).
    first_line: usize,
    body: &'a str,
}

fn is_fence(line: &str) -> bool {
    line.trim_end() == "---"
}

fn split(text: &str) -> Option<Split<'_>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_end = text.find('\n')?;
    if !is_fence(&text[..first_end]) {
        return None;
    }
    let rest = &text[first_end + 1..];
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if is_fence(line) || line.trim_end() == "..." {
            return Some(Split {
                yaml: &rest[..offset],
                first_line: 2,
                body: &rest[offset + line.len()..],
            });
        }
        offset += line.len();
    }
    None
}

/// The file line of a top-level `key:` in the front matter (its first line if not found).
fn line_of(yaml: &str, first_line: usize, key: &str) -> usize {
    yaml.lines()
        .position(|l| {
            let l = l.trim_end();
            [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| {
                    l.strip_prefix(k.as_str())
                        .is_some_and(|r| r.trim_start().starts_with(':'))
                })
        })
        .map_or(first_line, |i| first_line + i)
}

/// Parses an agent file's text. `path` names the file in errors and becomes the source.
/// Returns the agent and warnings (unknown fields), or the error that makes it unusable.
pub fn parse_agent(
    text: &str,
    path: &Path,
) -> Result<(Agent, Vec<AgentLoadError>), AgentLoadError> {
    let err = |line: usize, message: String| AgentLoadError::Parse {
        path: path.to_path_buf(),
        line,
        message,
    };
    let parts = split(text).ok_or_else(|| {
        err(
            1,
            "no front matter: start the file with a `---` line, then `name: ...`, then `---`"
                .into(),
        )
    })?;
    let missing_name = || err(1, "the front matter has no `name`".into());
    if parts.yaml.trim().is_empty() {
        return Err(missing_name());
    }
    let fm: FrontMatterIn = serde_yaml_ng::from_str(parts.yaml).map_err(|e| {
        let line = e
            .location()
            .map_or(parts.first_line, |l| parts.first_line + l.line() - 1);
        // The location is already in `line`: keep only the message.
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        err(line, message)
    })?;
    let name = fm
        .name
        .map(|n| n.trim().to_string())
        .ok_or_else(missing_name)?;
    let name_line = line_of(parts.yaml, parts.first_line, "name");
    if let Some(problem) = name_problem(&name) {
        return Err(err(name_line, problem));
    }
    if let Some(t) = fm.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(err(
            line_of(parts.yaml, parts.first_line, "temperature"),
            format!("temperature {t} is out of range (0.0 to 2.0)"),
        ));
    }
    let mut warnings = Vec::new();
    if let Ok(serde_yaml_ng::Value::Mapping(map)) =
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(parts.yaml)
    {
        for key in map.keys().filter_map(|k| k.as_str()) {
            if !KNOWN_FIELDS.contains(&key) {
                warnings.push(AgentLoadError::UnknownField {
                    path: path.to_path_buf(),
                    line: line_of(parts.yaml, parts.first_line, key),
                    field: key.to_string(),
                });
            }
        }
    }
    let agent = Agent {
        name,
        description: fm.description.unwrap_or_default().trim().to_string(),
        model: fm
            .model
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty()),
        temperature: fm.temperature,
        tools: fm.tools.map(ListOrString::into_vec),
        tags: fm.tags.map(ListOrString::into_vec).unwrap_or_default(),
        knowledge: fm.knowledge.map(ListOrString::into_vec).unwrap_or_default(),
        prompt: parts.body.trim().to_string(),
        source: AgentSource::File(path.to_path_buf()),
    };
    Ok((agent, warnings))
}

/// Why `name` cannot name an agent, if it cannot.
pub(crate) fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("the `name` is empty".into())
    } else if name.eq_ignore_ascii_case("auto") {
        Some("`auto` is reserved (`--agent auto` picks an agent): choose another name".into())
    } else if name.chars().any(char::is_control) || name.chars().count() > 80 {
        Some("the `name` must be one line of at most 80 characters".into())
    } else {
        None
    }
}

/// The agent as file text: front matter, a blank line, the prompt.
pub fn to_markdown(agent: &Agent) -> Result<String, AgentEditError> {
    let fm = FrontMatterOut {
        name: &agent.name,
        description: &agent.description,
        model: agent.model.as_deref(),
        temperature: agent.temperature,
        tools: agent.tools.as_deref(),
        tags: &agent.tags,
        knowledge: &agent.knowledge,
    };
    let yaml = serde_yaml_ng::to_string(&fm).map_err(|e| AgentEditError::Encode(e.to_string()))?;
    Ok(format!("---\n{yaml}---\n\n{}\n", agent.prompt.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Agent, Vec<AgentLoadError>), AgentLoadError> {
        parse_agent(text, Path::new("/a/x.md"))
    }

    #[test]
    fn a_full_file_parses() {
        let text = "---\nname: Coder\ndescription: Writes code\nmodel: m1\ntemperature: 0.2\ntools: [read_file, \"fs__*\"]\ntags: rust, code\n---\n\nYou write code.\n";
        let (a, warnings) = parse(text).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(a.name, "Coder");
        assert_eq!(a.model.as_deref(), Some("m1"));
        assert_eq!(a.temperature, Some(0.2));
        assert_eq!(
            a.tools,
            Some(vec!["read_file".to_string(), "fs__*".to_string()])
        );
        assert_eq!(a.tags, ["rust", "code"]);
        assert_eq!(a.prompt, "You write code.");
    }

    #[test]
    fn crlf_files_parse() {
        let (a, _) = parse("---\r\nname: W\r\n---\r\nBody\r\n").unwrap();
        assert_eq!((a.name.as_str(), a.prompt.as_str()), ("W", "Body"));
    }

    #[test]
    fn a_wrong_type_names_its_file_line() {
        let text = "---\nname: X\ndescription: d\ntemperature: hot\n---\nbody";
        match parse(text).unwrap_err() {
            AgentLoadError::Parse { line, message, .. } => {
                assert_eq!(line, 4, "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_name_or_front_matter_is_line_1() {
        for text in ["just text", "---\ndescription: d\n---\nbody", "---\n---\nb"] {
            match parse(text).unwrap_err() {
                AgentLoadError::Parse { line, .. } => assert_eq!(line, 1, "{text}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn unknown_fields_warn_with_their_line() {
        let (a, w) = parse("---\nname: X\nmodle: m\n---\nb").unwrap();
        assert_eq!(a.model, None);
        match &w[..] {
            [AgentLoadError::UnknownField { line, field, .. }] => {
                assert_eq!((*line, field.as_str()), (3, "modle"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auto_is_reserved() {
        assert!(parse("---\nname: auto\n---\nb").is_err());
    }

    #[test]
    fn markdown_round_trips() {
        let mut a = Agent::new("Reviewer", "Review the code.\n\nBe kind.");
        a.description = "Reviews: code".into();
        a.tools = Some(vec![]);
        a.tags = vec!["review".into()];
        a.temperature = Some(0.5);
        let text = to_markdown(&a).unwrap();
        let (b, w) = parse(&text).unwrap();
        assert!(w.is_empty());
        a.source = b.source.clone();
        assert_eq!(a, b);
    }
}
