//! The stream task: one model round's events, read from the provider and queued for the
//! engine (which applies them in `step.rs`), never more than `STREAM_BACKLOG` ahead of it.

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::engine::event_loop::{Input, STREAM_BACKLOG};
use crate::engine::events::ConversationId;
use crate::engine::queue::{EventQueue, Priority};
use crate::llm::{ChatRequest, Provider};

/// Streams one answer into the queue until it ends or `cancel` fires.
pub(crate) async fn stream_task(
    provider: Arc<dyn Provider>,
    request: ChatRequest,
    cancel: CancellationToken,
    queue: Arc<EventQueue<Input>>,
    conversation: ConversationId,
    run: u64,
) {
    let backlog = Arc::new(Semaphore::new(STREAM_BACKLOG));
    let shared_id = Arc::new(conversation.clone());
    let push = |event, permit| {
        queue.push(
            Priority::Normal,
            Input::Stream {
                conversation: Arc::clone(&shared_id),
                run,
                event,
                _permit: permit,
            },
        )
    };
    let stream = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        s = provider.stream(request, cancel.clone()) => Some(s),
    };
    match stream {
        None => {}
        Some(Err(e)) => {
            if let Ok(permit) = Arc::clone(&backlog).acquire_owned().await {
                push(Err(e), permit);
            }
        }
        Some(Ok(mut events)) => loop {
            // Wait for the engine before reading on: a server faster than the engine then
            // waits in its socket buffer, not in our memory.
            let permit = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                p = Arc::clone(&backlog).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                next = events.next() => match next {
                    Some(event) => push(event, permit),
                    None => break,
                },
            }
        },
    }
    queue.push(
        Priority::Normal,
        Input::StreamEnded {
            conversation: conversation.clone(),
            run,
        },
    );
}
