//! Who says yes to a tool call. Each tool has an `ApprovalMode` (config `[tools.approval]`,
//! else the tool's default); `ApprovalPolicy` sorts a call into `Decision::Approved`,
//! `NeedsApproval` or `Denied` (goose-style, typed) and remembers the user's grants.
//! Decisions are plain serde data so the engine can emit and store them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::core::{ApprovalScope, ConversationId};

pub use crate::config::tools::{ApprovalMode, ToolsConfig};

/// How a non-interactive run answers calls that would ask (`--approve ask|all|none`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CliApproval {
    /// Ask the user (the front end prompts, or denies when it cannot).
    #[default]
    Ask,
    /// Approve every call that would ask.
    All,
    /// Deny every call that would ask.
    None,
}

impl From<crate::config::serve::ServerApproval> for CliApproval {
    fn from(a: crate::config::serve::ServerApproval) -> Self {
        match a {
            crate::config::serve::ServerApproval::None => CliApproval::None,
            crate::config::serve::ServerApproval::All => CliApproval::All,
        }
    }
}

/// An `--approve` value that is not `ask`, `all` or `none`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid approval `{0}`: expected ask, all or none")]
pub struct ParseApprovalError(pub String);

impl FromStr for CliApproval {
    type Err = ParseApprovalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ask" => Ok(Self::Ask),
            "all" => Ok(Self::All),
            "none" => Ok(Self::None),
            _ => Err(ParseApprovalError(s.to_string())),
        }
    }
}

/// Why a call may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovedBy {
    /// The tool is read-only and the config does not say otherwise.
    ReadOnly,
    /// The config sets the tool to `allow`.
    Config,
    /// `--approve all`.
    Cli,
    /// The user granted this tool for the conversation.
    ConversationGrant,
    /// The user granted this tool for good.
    AlwaysGrant,
    /// The user answered the ask, with this reach.
    User(ApprovalScope),
}

/// Why a call may not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeniedBy {
    /// The config sets the tool to `deny`.
    Config,
    /// `--approve none`.
    Cli,
    /// The user said no.
    User,
}

/// What happens to one tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", content = "by", rename_all = "snake_case")]
pub enum Decision {
    /// Run it.
    Approved(ApprovedBy),
    /// Ask the user first.
    NeedsApproval,
    /// Do not run it; the model is told.
    Denied(DeniedBy),
}

/// Sorts tool calls into decisions and remembers the user's grants.
#[derive(Debug, Clone, Default)]
pub struct ApprovalPolicy {
    modes: BTreeMap<String, ApprovalMode>,
    cli: CliApproval,
    /// A door for other programs (`serve`, `native-host`): its `approve` caps what the
    /// config allows, since the caller is not the user who wrote the config.
    remote: bool,
    always: BTreeSet<String>,
    conversation: HashMap<ConversationId, BTreeSet<String>>,
}

impl ApprovalPolicy {
    /// A policy from the config's modes and the command line's `--approve`.
    pub fn new(modes: BTreeMap<String, ApprovalMode>, cli: CliApproval) -> Self {
        Self {
            modes,
            cli,
            ..Self::default()
        }
    }

    /// The policy of a door for other programs: a config `allow` counts only when the door's
    /// own `approve` is `all`.
    pub fn remote(mut self, remote: bool) -> Self {
        self.remote = remote;
        self
    }

    /// Restores tools granted `Always` earlier (from storage).
    pub fn with_always<I: IntoIterator<Item = String>>(mut self, tools: I) -> Self {
        self.always.extend(tools);
        self
    }

    /// The tools granted `Always`, to be stored.
    pub fn always_granted(&self) -> impl Iterator<Item = &str> {
        self.always.iter().map(String::as_str)
    }

    /// The configured mode for `tool`, if the config names it (exactly or by glob). The
    /// exact name wins, then the most specific pattern (the most literal characters), so
    /// `github__delete_*` beats `github__*` and both beat `*`; on a tie the most restrictive
    /// mode wins (deny, then ask, then allow).
    pub fn configured_mode(&self, tool: &str) -> Option<ApprovalMode> {
        if let Some(mode) = self.modes.get(tool) {
            return Some(*mode);
        }
        self.modes
            .iter()
            .filter(|(pattern, _)| glob_match(pattern, tool))
            .max_by_key(|(pattern, mode)| (literal_chars(pattern), restriction(**mode)))
            .map(|(_, mode)| *mode)
    }

    /// The effective mode of a tool whose own default is `default`.
    pub fn mode(&self, tool: &str, default: ApprovalMode) -> ApprovalMode {
        self.configured_mode(tool).unwrap_or(default)
    }

    /// Decides a call of `tool` in `conversation`; `needs_approval` is the tool's own
    /// answer for the call's arguments (see `ValidatedCall::needs_approval`).
    pub fn decide(
        &self,
        conversation: &ConversationId,
        tool: &str,
        needs_approval: bool,
    ) -> Decision {
        let default = if needs_approval {
            ApprovalMode::Ask
        } else {
            ApprovalMode::Allow
        };
        match self.configured_mode(tool) {
            Some(ApprovalMode::Deny) => return Decision::Denied(DeniedBy::Config),
            // A door's `approve = "none"` caps what the config allows.
            Some(ApprovalMode::Allow) if self.remote && self.cli == CliApproval::None => {
                return Decision::Denied(DeniedBy::Cli);
            }
            Some(ApprovalMode::Allow) => return Decision::Approved(ApprovedBy::Config),
            Some(ApprovalMode::Ask) => {}
            // `--approve none` runs nothing the config does not allow by name, read-only
            // tools included.
            None if default == ApprovalMode::Allow && self.cli != CliApproval::None => {
                return Decision::Approved(ApprovedBy::ReadOnly);
            }
            None => {}
        }
        if self.always.contains(tool) {
            return Decision::Approved(ApprovedBy::AlwaysGrant);
        }
        if self
            .conversation
            .get(conversation)
            .is_some_and(|g| g.contains(tool))
        {
            return Decision::Approved(ApprovedBy::ConversationGrant);
        }
        match self.cli {
            CliApproval::Ask => Decision::NeedsApproval,
            CliApproval::All => Decision::Approved(ApprovedBy::Cli),
            CliApproval::None => Decision::Denied(DeniedBy::Cli),
        }
    }

    /// Records the user's approval of `tool`; `Once` leaves nothing to remember.
    pub fn grant(&mut self, conversation: &ConversationId, tool: &str, scope: ApprovalScope) {
        match scope {
            ApprovalScope::Once => {}
            ApprovalScope::Conversation => {
                self.conversation
                    .entry(conversation.clone())
                    .or_default()
                    .insert(tool.to_string());
            }
            ApprovalScope::Always => {
                self.always.insert(tool.to_string());
            }
        }
    }

    /// Forgets the grants of a conversation (when it is deleted).
    pub fn forget_conversation(&mut self, conversation: &ConversationId) {
        self.conversation.remove(conversation);
    }
}

/// How specific a pattern is: its characters other than `*` and `?`.
fn literal_chars(pattern: &str) -> usize {
    pattern.chars().filter(|c| !matches!(c, '*' | '?')).count()
}

/// Ranks modes for ties between equally specific patterns: the most restrictive wins.
fn restriction(mode: ApprovalMode) -> u8 {
    match mode {
        ApprovalMode::Allow => 0,
        ApprovalMode::Ask => 1,
        ApprovalMode::Deny => 2,
    }
}

/// Matches `name` against a pattern where `*` is any run of characters and `?` one.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative wildcard matching with one backtrack point, linear in practice.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(s: &str) -> ConversationId {
        ConversationId::from(s)
    }

    #[test]
    fn read_only_tools_run_and_others_ask() {
        let p = ApprovalPolicy::default();
        assert_eq!(
            p.decide(&conv("c"), "read_file", false),
            Decision::Approved(ApprovedBy::ReadOnly)
        );
        assert_eq!(
            p.decide(&conv("c"), "write_file", true),
            Decision::NeedsApproval
        );
    }

    #[test]
    fn config_modes_win() {
        let modes = BTreeMap::from([
            ("read_file".to_string(), ApprovalMode::Deny),
            ("write_file".to_string(), ApprovalMode::Allow),
            ("list_dir".to_string(), ApprovalMode::Ask),
            ("fs__*".to_string(), ApprovalMode::Deny),
        ]);
        let p = ApprovalPolicy::new(modes, CliApproval::All);
        assert_eq!(
            p.decide(&conv("c"), "read_file", false),
            Decision::Denied(DeniedBy::Config)
        );
        assert_eq!(
            p.decide(&conv("c"), "write_file", true),
            Decision::Approved(ApprovedBy::Config)
        );
        assert_eq!(
            p.decide(&conv("c"), "list_dir", false),
            Decision::Approved(ApprovedBy::Cli)
        );
        assert_eq!(
            p.decide(&conv("c"), "fs__write", true),
            Decision::Denied(DeniedBy::Config)
        );
        assert_eq!(p.mode("fs__read", ApprovalMode::Ask), ApprovalMode::Deny);
        assert_eq!(p.mode("other", ApprovalMode::Ask), ApprovalMode::Ask);
    }

    #[test]
    fn cli_answers_asks() {
        let all = ApprovalPolicy::new(BTreeMap::new(), CliApproval::All);
        assert_eq!(
            all.decide(&conv("c"), "run_shell", true),
            Decision::Approved(ApprovedBy::Cli)
        );
        let none = ApprovalPolicy::new(BTreeMap::new(), CliApproval::None);
        assert_eq!(
            none.decide(&conv("c"), "run_shell", true),
            Decision::Denied(DeniedBy::Cli)
        );
        // `--approve none` runs nothing the config does not allow by name (issue 14).
        assert_eq!(
            none.decide(&conv("c"), "read_file", false),
            Decision::Denied(DeniedBy::Cli)
        );
        let allowed = ApprovalPolicy::new(
            BTreeMap::from([("read_file".to_string(), ApprovalMode::Allow)]),
            CliApproval::None,
        );
        assert_eq!(
            allowed.decide(&conv("c"), "read_file", false),
            Decision::Approved(ApprovedBy::Config)
        );
        assert_eq!("ALL".parse::<CliApproval>(), Ok(CliApproval::All));
        assert!("yes".parse::<CliApproval>().is_err());
    }

    #[test]
    fn grants_are_remembered_per_scope() {
        let mut p = ApprovalPolicy::new(BTreeMap::new(), CliApproval::None);
        p.grant(&conv("a"), "run_shell", ApprovalScope::Once);
        assert_eq!(
            p.decide(&conv("a"), "run_shell", true),
            Decision::Denied(DeniedBy::Cli)
        );
        p.grant(&conv("a"), "run_shell", ApprovalScope::Conversation);
        assert_eq!(
            p.decide(&conv("a"), "run_shell", true),
            Decision::Approved(ApprovedBy::ConversationGrant)
        );
        assert_eq!(
            p.decide(&conv("b"), "run_shell", true),
            Decision::Denied(DeniedBy::Cli)
        );
        p.forget_conversation(&conv("a"));
        assert_eq!(
            p.decide(&conv("a"), "run_shell", true),
            Decision::Denied(DeniedBy::Cli)
        );
        p.grant(&conv("a"), "http_get", ApprovalScope::Always);
        assert_eq!(
            p.decide(&conv("z"), "http_get", true),
            Decision::Approved(ApprovedBy::AlwaysGrant)
        );
        assert_eq!(p.always_granted().collect::<Vec<_>>(), vec!["http_get"]);
        let restored = ApprovalPolicy::default().with_always(["http_get".to_string()]);
        assert_eq!(
            restored.decide(&conv("q"), "http_get", true),
            Decision::Approved(ApprovedBy::AlwaysGrant)
        );
    }

    #[test]
    fn config_deny_beats_grants() {
        let modes = BTreeMap::from([("run_shell".to_string(), ApprovalMode::Deny)]);
        let mut p = ApprovalPolicy::new(modes, CliApproval::Ask);
        p.grant(&conv("a"), "run_shell", ApprovalScope::Always);
        assert_eq!(
            p.decide(&conv("a"), "run_shell", true),
            Decision::Denied(DeniedBy::Config)
        );
    }

    #[test]
    fn the_most_specific_pattern_wins_and_deny_wins_ties() {
        let modes = BTreeMap::from([
            ("github__*".to_string(), ApprovalMode::Allow),
            ("github__delete_*".to_string(), ApprovalMode::Deny),
            ("*".to_string(), ApprovalMode::Ask),
            ("x?".to_string(), ApprovalMode::Allow),
            ("?y".to_string(), ApprovalMode::Deny),
            ("github__delete_repo".to_string(), ApprovalMode::Ask),
        ]);
        let p = ApprovalPolicy::new(modes, CliApproval::Ask);
        assert_eq!(
            p.configured_mode("github__delete_issue"),
            Some(ApprovalMode::Deny)
        );
        assert_eq!(
            p.configured_mode("github__list_issues"),
            Some(ApprovalMode::Allow)
        );
        assert_eq!(
            p.configured_mode("github__delete_repo"),
            Some(ApprovalMode::Ask)
        );
        assert_eq!(p.configured_mode("run_shell"), Some(ApprovalMode::Ask));
        // `x?` and `?y` are equally specific: deny wins.
        assert_eq!(p.configured_mode("xy"), Some(ApprovalMode::Deny));
    }

    #[test]
    fn a_remote_doors_approve_caps_config_allow() {
        let modes = BTreeMap::from([("run_shell".to_string(), ApprovalMode::Allow)]);
        let capped = ApprovalPolicy::new(modes.clone(), CliApproval::None).remote(true);
        assert_eq!(
            capped.decide(&conv("c"), "run_shell", true),
            Decision::Denied(DeniedBy::Cli)
        );
        assert_eq!(
            capped.decide(&conv("c"), "read_file", false),
            Decision::Denied(DeniedBy::Cli)
        );
        let open = ApprovalPolicy::new(modes, CliApproval::All).remote(true);
        assert_eq!(
            open.decide(&conv("c"), "run_shell", true),
            Decision::Approved(ApprovedBy::Config)
        );
    }

    #[test]
    fn decisions_serialize_as_plain_data() {
        let d = serde_json::to_value(Decision::Approved(ApprovedBy::Cli)).unwrap();
        assert_eq!(d, serde_json::json!({"decision": "approved", "by": "cli"}));
        let d = serde_json::to_value(Decision::NeedsApproval).unwrap();
        assert_eq!(d, serde_json::json!({"decision": "needs_approval"}));
        let cfg: ToolsConfig = toml::from_str("[approval]\nrun_shell = \"allow\"\n").unwrap();
        assert_eq!(cfg.approval["run_shell"], ApprovalMode::Allow);
    }

    #[test]
    fn globs() {
        assert!(glob_match("fs__*", "fs__read"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("fs__*", "gs__read"));
        assert!(glob_match("*_file", "read_file"));
        assert!(!glob_match("read", "read_file"));
    }
}
