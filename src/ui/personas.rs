//! The app's side of agents and profiles: the loaded [`AgentRegistry`] (kept fresh by an
//! [`AgentWatcher`]), the provider profiles built in the background, the editor's file writes
//! and the store reads of a conversation's agent and profile. Everything that touches the disk
//! or the network runs on a background thread and comes back through one channel, drained by
//! the app each frame; the thread wakes the window with `request_repaint`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};

use serde::{Deserialize, Serialize};

use crate::agents::{self, Agent, AgentLoadError, AgentRegistry, AgentWatcher, DEFAULT_AGENT};
use crate::config::UiSettings;
use crate::engine::{AgentProfile, ConversationId, ProviderProfile};
use crate::store::StoreReader;

/// Builds the provider profile of a `[profiles.NAME]` table (called on a background thread).
pub type ProfileBuilder = Arc<dyn Fn(&str) -> Result<ProviderProfile, String> + Send + Sync>;

/// The name the profile switcher shows for the engine's own provider (no profile).
pub const DEFAULT_PROFILE: &str = "default";

/// Which agent a new conversation gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentChoice {
    /// Chosen from the first message by [`agents::pick_agent`].
    Auto,
    /// This agent.
    Named(String),
}

impl Default for AgentChoice {
    fn default() -> Self {
        AgentChoice::Named(DEFAULT_AGENT.to_string())
    }
}

impl AgentChoice {
    /// The text the picker shows.
    pub fn label(&self) -> &str {
        match self {
            AgentChoice::Auto => "Auto",
            AgentChoice::Named(name) => name,
        }
    }
}

/// What the app needs for agents and profiles (see `RustbotApp::with_agents`).
pub struct AgentParts {
    /// The agents as loaded from the folder (`AgentRegistry::load`), preferences not applied:
    /// the app folds the settings' personality and instructions into the default agent.
    pub registry: AgentRegistry,
    /// What went wrong loading it (shown on the Agents page).
    pub problems: Vec<AgentLoadError>,
    /// The agents folder: watched for hand edits and written by the editor. `None`: read-only.
    pub dir: Option<PathBuf>,
    /// The names of the configured `[profiles.NAME]` tables.
    pub profiles: Vec<String>,
    /// Builds a profile; `None` offers only the engine's own provider.
    pub build_profile: Option<ProfileBuilder>,
    /// The run's own system prompt (`--system` or `system_prompt` in the config): it replaces
    /// the default agent's prompt.
    pub system_override: Option<String>,
    /// The store, to read a reopened conversation's agent and profile.
    pub store: Option<StoreReader>,
}

/// A result from a background thread.
pub enum PersonaUpdate {
    /// The agents folder was loaded again (by the watcher or after an edit).
    Reloaded(AgentRegistry, Vec<AgentLoadError>),
    /// A profile was built (or could not be).
    ProfileBuilt(String, Result<ProviderProfile, String>),
    /// A stored conversation's agent and profile names.
    Stored {
        /// The conversation.
        conversation: ConversationId,
        /// Its agent's name.
        agent: Option<String>,
        /// Its profile's name.
        profile: Option<String>,
    },
    /// An edit finished: the sentence to show, and whether it failed.
    Edited(String, bool),
}

/// An edit of the agents folder from the Agents page.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEdit {
    /// Write a new agent.
    Create(Agent),
    /// Replace agent `name` (which may be renamed).
    Update(String, Agent),
    /// Copy agent `.0` as `.1`.
    Duplicate(String, String),
    /// Delete agent `name`'s file.
    Delete(String),
}

/// Agents and profiles as the app holds them.
pub struct Personas {
    raw: AgentRegistry,
    /// The agents in effect (the default agent carries the settings' preferences).
    pub registry: AgentRegistry,
    /// Problems of the last load, as sentences with file and line.
    pub problems: Vec<String>,
    /// The agents folder, if editable.
    pub dir: Option<PathBuf>,
    /// The configured profile names.
    pub profile_names: Vec<String>,
    profiles: HashMap<String, Result<ProviderProfile, String>>,
    system_override: Option<String>,
    store: Option<StoreReader>,
    preferences: UiSettings,
    tx: mpsc::Sender<PersonaUpdate>,
    rx: mpsc::Receiver<PersonaUpdate>,
    ctx: egui::Context,
    _watcher: Option<AgentWatcher>,
}

impl Personas {
    /// Starts watching the folder and building the profiles, both in the background.
    pub fn start(ctx: &egui::Context, parts: AgentParts, preferences: UiSettings) -> Self {
        let (tx, rx) = mpsc::channel();
        let watcher = parts.dir.as_ref().and_then(|dir| {
            let (tx, ctx) = (tx.clone(), ctx.clone());
            let started = AgentWatcher::start(dir, move |registry, problems| {
                if tx.send(PersonaUpdate::Reloaded(registry, problems)).is_ok() {
                    ctx.request_repaint();
                }
            });
            match started {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!("agents will not reload on their own: {e}");
                    None
                }
            }
        });
        if let Some(build) = parts.build_profile.clone() {
            let names = parts.profiles.clone();
            let (tx, ctx) = (tx.clone(), ctx.clone());
            spawn("rustbot-profiles", move || {
                for name in names {
                    let built = build(&name);
                    if tx.send(PersonaUpdate::ProfileBuilt(name, built)).is_err() {
                        return;
                    }
                    ctx.request_repaint();
                }
            });
        }
        let mut personas = Self {
            raw: AgentRegistry::default(),
            registry: AgentRegistry::default(),
            problems: Vec::new(),
            dir: parts.dir,
            profile_names: parts.profiles,
            profiles: HashMap::new(),
            system_override: parts.system_override,
            store: parts.store,
            preferences,
            tx,
            rx,
            ctx: ctx.clone(),
            _watcher: watcher,
        };
        personas.reloaded(parts.registry, &parts.problems);
        personas
    }

    /// The next background result, if one is ready.
    pub fn try_recv(&self) -> Option<PersonaUpdate> {
        self.rx.try_recv().ok()
    }

    /// Takes a freshly loaded registry; returns the one it replaces.
    pub fn reloaded(&mut self, raw: AgentRegistry, problems: &[AgentLoadError]) -> AgentRegistry {
        self.problems = problems.iter().map(ToString::to_string).collect();
        self.raw = raw;
        let mut registry = self.raw.clone();
        registry.apply_preferences(&self.preferences);
        std::mem::replace(&mut self.registry, registry)
    }

    /// New personality or instructions from Settings; true when the default agent changed.
    pub fn set_preferences(&mut self, preferences: UiSettings) -> bool {
        if preferences.personality == self.preferences.personality
            && preferences.instructions == self.preferences.instructions
        {
            return false;
        }
        self.preferences = preferences;
        let mut registry = self.raw.clone();
        registry.apply_preferences(&self.preferences);
        self.registry = registry;
        true
    }

    /// What the engine needs to answer as agent `name`, if it exists.
    pub fn agent_profile(&self, name: &str) -> Option<AgentProfile> {
        profile_in(&self.registry, name, self.system_override.as_deref())
    }

    /// [`Self::agent_profile`] in an older registry (to see whether a reload changed it).
    pub fn agent_profile_in(&self, registry: &AgentRegistry, name: &str) -> Option<AgentProfile> {
        profile_in(registry, name, self.system_override.as_deref())
    }

    /// The built profile `name`, or why it cannot be used.
    pub fn profile(&self, name: &str) -> Result<ProviderProfile, String> {
        match self.profiles.get(name) {
            Some(Ok(p)) => Ok(p.clone()),
            Some(Err(e)) => Err(format!("The profile {name} cannot be used: {e}")),
            None => Err(format!("The profile {name} is not ready yet.")),
        }
    }

    /// Records a profile built in the background.
    pub fn profile_built(&mut self, name: String, built: Result<ProviderProfile, String>) {
        self.profiles.insert(name, built);
    }

    /// Reads a stored conversation's agent and profile names in the background.
    pub fn request_stored(&self, conversation: &ConversationId) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let (id, tx, ctx) = (conversation.clone(), self.tx.clone(), self.ctx.clone());
        spawn("rustbot-persona-read", move || {
            let key = id.0.clone();
            match store.read_blocking(move |s| s.conversation(&key)) {
                Ok(Ok(Some(c))) => {
                    let update = PersonaUpdate::Stored {
                        conversation: id,
                        agent: c.agent,
                        profile: c.profile,
                    };
                    if tx.send(update).is_ok() {
                        ctx.request_repaint();
                    }
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!("could not read the conversation's agent: {e}");
                }
            }
        });
    }

    /// Writes an edit to the agents folder in the background, then loads the folder again (the
    /// watcher would too, but the editor should not depend on its timing).
    pub fn edit(&self, edit: AgentEdit) {
        let Some(dir) = self.dir.clone() else {
            let _ = self.tx.send(PersonaUpdate::Edited(
                "There is no agents folder to write to.".into(),
                true,
            ));
            return;
        };
        let (raw, tx, ctx) = (self.raw.clone(), self.tx.clone(), self.ctx.clone());
        spawn("rustbot-agent-edit", move || {
            let result = match &edit {
                AgentEdit::Create(agent) => agents::create(&raw, &dir, agent)
                    .map(|p| format!("Created {} in {}.", agent.name, p.display())),
                AgentEdit::Update(name, agent) => agents::update(&raw, &dir, name, agent)
                    .map(|p| format!("Saved {} to {}.", agent.name, p.display())),
                AgentEdit::Duplicate(name, new_name) => {
                    agents::duplicate(&raw, &dir, name, new_name)
                        .map(|p| format!("Copied {name} to {}.", p.display()))
                }
                AgentEdit::Delete(name) => {
                    agents::delete(&raw, name).map(|()| format!("Deleted {name}."))
                }
            };
            let (message, failed) = match result {
                Ok(m) => (m, false),
                Err(e) => (e.to_string(), true),
            };
            let (registry, problems) = AgentRegistry::load(&dir);
            let _ = tx.send(PersonaUpdate::Reloaded(registry, problems));
            let _ = tx.send(PersonaUpdate::Edited(message, failed));
            ctx.request_repaint();
        });
    }
}

fn profile_in(
    registry: &AgentRegistry,
    name: &str,
    system_override: Option<&str>,
) -> Option<AgentProfile> {
    let agent = registry.get(name)?;
    let mut profile = agent.profile();
    if let Some(system) = system_override
        && agent.name.eq_ignore_ascii_case(DEFAULT_AGENT)
    {
        profile.system_prompt = Some(system.to_string());
    }
    Some(profile)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::error!("could not start the {name} thread: {e}");
    }
}
