//! `search_knowledge`: the model's own follow-up searches in the knowledge bases (read-only,
//! so no approval). Offered when a base exists; the embedding model loads on the first call.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::knowledge::{self, Embedder, KnowledgeDb};
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Searches the knowledge bases in the data dir.
pub struct SearchKnowledge {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    /// The sentence-transformers folder (None: keyword search only).
    model_folder: Option<PathBuf>,
    bases: Vec<String>,
    /// Loaded on first use and kept.
    embedder: Mutex<Option<Arc<Embedder>>>,
}

impl SearchKnowledge {
    /// A tool over `bases` of the database in `data_dir`.
    pub fn new(data_dir: PathBuf, model_folder: Option<PathBuf>, bases: Vec<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                data_dir,
                model_folder,
                bases,
                embedder: Mutex::new(None),
            }),
        }
    }
}

impl Inner {
    fn embedder(&self) -> Result<Option<Arc<Embedder>>, ToolError> {
        let Some(folder) = &self.model_folder else {
            return Ok(None);
        };
        let mut slot = self
            .embedder
            .lock()
            .map_err(|_| ToolError::Failed("the embedding model is unavailable".into()))?;
        if let Some(e) = slot.as_ref() {
            return Ok(Some(Arc::clone(e)));
        }
        let loaded =
            Arc::new(Embedder::load(folder).map_err(|e| ToolError::Failed(e.to_string()))?);
        *slot = Some(Arc::clone(&loaded));
        Ok(Some(loaded))
    }

    fn run(&self, query: &str, top: usize) -> Result<String, ToolError> {
        let db = KnowledgeDb::open(&self.data_dir).map_err(|e| ToolError::Failed(e.to_string()))?;
        let embedder = self.embedder()?;
        let hits = knowledge::search(&db, &self.bases, query, top, embedder.as_deref())
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        if hits.is_empty() {
            return Ok(format!(
                "Nothing in the knowledge bases matches \"{query}\"."
            ));
        }
        Ok(knowledge::passages_for_prompt(
            &self.bases.join(", "),
            &hits,
        ))
    }
}

#[async_trait]
impl Tool for SearchKnowledge {
    fn name(&self) -> &str {
        "search_knowledge"
    }

    fn description(&self) -> &str {
        "Search the user's knowledge bases (their own documents) for passages about a question; returns numbered passages with file and lines to cite."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in words or as a question."},
                "top": {"type": "integer", "minimum": 1, "maximum": 10, "description": "How many passages (default 4)."}
            },
            "required": ["query"]
        })
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        false
    }

    async fn call(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let query = args["query"].as_str().unwrap_or_default().to_string();
        let top = args["top"].as_u64().map_or(4, |n| n.clamp(1, 10) as usize);
        let inner = Arc::clone(&self.inner);
        // SQLite and the model (loading it, too) are blocking work: off the async threads.
        let text = tokio::task::spawn_blocking(move || inner.run(&query, top))
            .await
            .map_err(|e| ToolError::Failed(e.to_string()))??;
        Ok(ToolOutput::text(text))
    }
}
