//! Keeping the shown messages in step with the store's tree: store ids and siblings after a
//! run, a reloaded branch after a switch or a delete, and editing any sent message.

use super::{Author, ConversationId, LoadedMessage, MessageVm, Siblings, UnixMs, ViewModel};
use crate::engine::StoredPlace;

impl ViewModel {
    /// Brings a conversation's messages up to date with the store (after a run ends, a branch
    /// is switched or a message deleted). While a run is active nothing changes (its end asks
    /// again). When the store shows the same messages (same roles, and the same store ids where
    /// known), the shown ones only learn their store ids and siblings, so live details (tool
    /// cards, usage) and layout caches stay; otherwise the stored branch replaces them.
    pub fn refresh_messages(&mut self, id: &ConversationId, messages: Vec<LoadedMessage>) {
        let Some(&i) = self.index.get(id) else {
            return;
        };
        let conv = &self.conversations[i];
        if conv.history_pending {
            self.load_messages(id, messages);
            return;
        }
        if conv.run.is_active() {
            return;
        }
        let same_shape = conv.messages.len() == messages.len()
            && conv.messages.iter().zip(&messages).all(|(shown, stored)| {
                shown.role == stored.role
                    && shown.store_id.is_none_or(|id| Some(id) == stored.store_id)
            });
        if same_shape {
            let mut revision = self.next_revision;
            for (shown, stored) in self.conversations[i].messages.iter_mut().zip(messages) {
                if shown.store_id != stored.store_id || shown.siblings != stored.siblings {
                    shown.store_id = stored.store_id;
                    shown.siblings = stored.siblings;
                    revision += 1;
                    shown.revision = revision;
                }
                if shown.usage.is_none() {
                    shown.usage = stored.usage;
                }
            }
            self.next_revision = revision;
            return;
        }
        let fresh: Vec<MessageVm> = messages
            .into_iter()
            .map(|m| self.message_from_store(m))
            .collect();
        self.conversations[i].messages = fresh;
    }

    /// Records that the user replaced the sent message shown as `message` (a [`MessageVm::id`]):
    /// it and everything after it leave the view (the store keeps them as a sibling branch) and
    /// the new text takes its place.
    pub fn edit_requested_at(
        &mut self,
        id: &ConversationId,
        message: u64,
        text: &str,
        now: UnixMs,
    ) {
        let conv = self.ensure(id, now);
        let mut images = Vec::new();
        if let Some(at) = conv.messages.iter().position(|m| m.id == message) {
            // The edit replaces the words; the images stay (the store links them too).
            images = std::mem::take(&mut conv.messages[at].images);
            conv.messages.truncate(at);
        }
        self.user_sent_with_images(id, text, images, now);
    }

    /// Learns where the last question and its answer sit in the store (`RunStored`): their
    /// ids and the branches beside them, without reading the conversation again.
    pub fn learn_stored(
        &mut self,
        id: &ConversationId,
        question: &StoredPlace,
        answer: Option<&StoredPlace>,
    ) {
        let Some(&i) = self.index.get(id) else {
            return;
        };
        let mut revision = self.next_revision;
        let messages = &mut self.conversations[i].messages;
        let Some(q) = messages.iter().rposition(|m| m.role == Author::User) else {
            return;
        };
        let place = |p: &StoredPlace| Siblings {
            current: p.siblings.iter().position(|s| *s == p.branch).unwrap_or(0),
            ids: p.siblings.clone(),
        };
        let mut learn = |m: &mut MessageVm, p: &StoredPlace| {
            m.store_id = Some(p.id);
            m.siblings = place(p);
            revision += 1;
            m.revision = revision;
        };
        learn(&mut messages[q], question);
        if let Some(answer) = answer
            && let Some(shown) = messages[q + 1..]
                .iter_mut()
                .rev()
                .find(|m| m.role == Author::Assistant)
        {
            learn(shown, answer);
        }
        self.next_revision = revision;
    }

    /// The store id of the shown message `message`, when it is known.
    pub fn store_id_of(&self, id: &ConversationId, message: u64) -> Option<i64> {
        self.conversation(id)?
            .messages
            .iter()
            .find(|m| m.id == message)?
            .store_id
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Author, MessageStatus, RunState, Siblings};
    use super::*;

    fn loaded(role: Author, text: &str, store_id: i64, siblings: &[i64]) -> LoadedMessage {
        LoadedMessage {
            role,
            text: text.into(),
            model: None,
            created_ms: 1,
            status: MessageStatus::Complete,
            error: None,
            store_id: Some(store_id),
            siblings: Siblings {
                ids: siblings.to_vec(),
                current: siblings.iter().position(|s| *s == store_id).unwrap_or(0),
            },
            usage: None,
            images: Vec::new(),
        }
    }

    fn live_exchange(vm: &mut ViewModel, id: &ConversationId) {
        vm.select(id.clone(), 1);
        vm.user_sent(id, "question", 1);
        let conv = vm.ensure(id, 1);
        conv.messages[0].status = MessageStatus::Complete;
        conv.messages.push(MessageVm {
            usage: Some("1 + 2 tokens".into()),
            ..conv.messages[0].clone()
        });
        conv.messages[1].role = Author::Assistant;
        conv.messages[1].id = 99;
        conv.messages[1].text = "answer".into();
        conv.run = RunState::Idle;
    }

    #[test]
    fn a_stored_run_gives_the_shown_messages_their_ids_and_branches() {
        let mut vm = ViewModel::new();
        let id = ConversationId("c".into());
        live_exchange(&mut vm, &id);
        let before = vm.selected().unwrap().messages[1].revision;
        // The answer began with a tool call (message 4) and ended in message 6; an older
        // answer (2) is its sibling.
        vm.learn_stored(
            &id,
            &StoredPlace {
                id: 1,
                branch: 1,
                siblings: vec![1],
            },
            Some(&StoredPlace {
                id: 6,
                branch: 4,
                siblings: vec![2, 4],
            }),
        );
        let conv = vm.selected().unwrap();
        assert_eq!(conv.messages[0].store_id, Some(1));
        assert!(!conv.messages[0].siblings.has_branches());
        assert_eq!(
            conv.messages[1].store_id,
            Some(6),
            "Delete acts on the shown answer"
        );
        assert_eq!(conv.messages[1].siblings.ids, vec![2, 4]);
        assert_eq!(conv.messages[1].siblings.current, 1, "‹ 2/2 ›");
        assert!(
            conv.messages[1].revision > before,
            "caches learn of the change"
        );
    }

    #[test]
    fn a_refresh_with_the_same_messages_only_adds_store_ids_and_siblings() {
        let mut vm = ViewModel::new();
        let id = ConversationId("c".into());
        live_exchange(&mut vm, &id);
        let before: Vec<u64> = vm
            .selected()
            .unwrap()
            .messages
            .iter()
            .map(|m| m.id)
            .collect();
        vm.refresh_messages(
            &id,
            vec![
                loaded(Author::User, "question", 1, &[1]),
                loaded(Author::Assistant, "answer", 3, &[2, 3]),
            ],
        );
        let conv = vm.selected().unwrap();
        let after: Vec<u64> = conv.messages.iter().map(|m| m.id).collect();
        assert_eq!(before, after, "the shown messages stay (caches keep)");
        assert_eq!(conv.messages[1].store_id, Some(3));
        assert_eq!(conv.messages[1].siblings.ids, vec![2, 3]);
        assert_eq!(conv.messages[1].siblings.current, 1);
        assert_eq!(conv.messages[1].usage.as_deref(), Some("1 + 2 tokens"));
        assert_eq!(vm.store_id_of(&id, 99), Some(3));
    }

    #[test]
    fn a_refresh_with_another_branch_replaces_the_messages_but_not_during_a_run() {
        let mut vm = ViewModel::new();
        let id = ConversationId("c".into());
        live_exchange(&mut vm, &id);
        let other = vec![loaded(Author::User, "other question", 5, &[1, 5])];

        vm.ensure(&id, 1).run = RunState::Streaming;
        vm.refresh_messages(&id, other.clone());
        assert_eq!(vm.selected().unwrap().messages.len(), 2, "a run is not cut");

        vm.ensure(&id, 1).run = RunState::Idle;
        vm.refresh_messages(&id, other);
        let conv = vm.selected().unwrap();
        assert_eq!(conv.messages.len(), 1);
        assert_eq!(conv.messages[0].text, "other question");
        assert_eq!(conv.messages[0].siblings.ids, vec![1, 5]);
    }

    #[test]
    fn editing_an_earlier_message_drops_it_and_what_follows_from_the_view() {
        let mut vm = ViewModel::new();
        let id = ConversationId("c".into());
        live_exchange(&mut vm, &id);
        let first = vm.selected().unwrap().messages[0].id;
        vm.edit_requested_at(&id, first, "better question", 2);
        let conv = vm.selected().unwrap();
        let texts: Vec<&str> = conv.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, vec!["better question"]);
        assert_eq!(conv.messages[0].status, MessageStatus::Pending);
        assert_eq!(conv.run, RunState::Sending);
    }
}
