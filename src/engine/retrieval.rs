//! Knowledge for a run: when the conversation's agent names knowledge bases, the best
//! passages for the user's question go into the run's requests with their sources, and the
//! retrieval is published (query, hits, scores, time) for the Events page.

use std::time::Instant;

use crate::engine::event_loop::Engine;
use crate::engine::events::{ConversationId, EngineEvent, RetrievedPassage};
use crate::llm::Role;

/// Passages put into a request.
const PASSAGES: usize = 4;

impl Engine {
    /// Retrieves passages for the conversation's last question, if its agent names bases;
    /// the text to add to the run's system prompt.
    pub(crate) async fn retrieve_for(&mut self, id: &ConversationId) -> Option<String> {
        let bases = self.agent(id).map(|a| a.knowledge.clone())?;
        if bases.is_empty() {
            return None;
        }
        let retriever = self.config.knowledge.clone()?;
        let query = self
            .conversation(id)
            .history
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.clone())?;
        let started = Instant::now();
        let (q, b) = (query.clone(), bases.clone());
        // SQLite and the embedding model are blocking work.
        let result =
            tokio::task::spawn_blocking(move || retriever.retrieve(&b, &q, PASSAGES)).await;
        let hits = match result {
            Ok(Ok(hits)) => hits,
            Ok(Err(e)) => {
                self.error(
                    Some(id),
                    format!("no passages from the knowledge base: {e}"),
                );
                return None;
            }
            Err(e) => {
                self.error(
                    Some(id),
                    format!("no passages from the knowledge base: {e}"),
                );
                return None;
            }
        };
        self.bus.publish(EngineEvent::Retrieval {
            conversation: id.clone(),
            query,
            bases: bases.clone(),
            passages: hits
                .iter()
                .map(|h| RetrievedPassage {
                    path: h.path.clone(),
                    lines: h.lines,
                    score: h.score,
                })
                .collect(),
            ms: started.elapsed().as_millis() as u64,
        });
        (!hits.is_empty()).then(|| crate::knowledge::passages_for_prompt(&bases.join(", "), &hits))
    }
}
