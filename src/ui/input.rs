//! The message box at the bottom: Enter sends, Shift+Enter adds a line, Esc stops, Up recalls
//! the last message; the Send button turns into Stop while a run is active.

use egui::{Event, Id, Key, KeyboardShortcut, Modifiers, TextEdit};

/// What the input box asks the app to do.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum InputAction {
    /// Send this trimmed text (empty only when files are attached) as the user's message.
    Send(String),
    /// Replace a sent message with this text and answer it again (a new branch).
    Edit {
        /// The message replaced (its view id); `None`: the last one (recalled with Up).
        message: Option<u64>,
        /// The new text.
        text: String,
    },
    /// Stop the running answer.
    Stop,
}

/// Shown above the field while a recalled message is being edited.
pub const EDITING_NOTE: &str =
    "Editing a sent message: Enter sends it as a new branch (the old one is kept).";

/// Label of the button that stops editing a sent message.
pub const CANCEL_EDIT: &str = "Cancel edit";

/// Which sent message the text in the box replaces.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Editing {
    /// The last one (recalled with Up).
    Last,
    /// This one (its view id; its Edit button).
    Message(u64),
}

/// The attachment tray as the Send button sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrayState {
    /// Files ready to go (a message may then be sent without words).
    pub files: usize,
    /// Files still being read (sending waits for them).
    pub loading: bool,
}

/// The accessible name (and label) of the message field.
pub const INPUT_LABEL: &str = "Message";

/// The message field and its button.
#[derive(Debug, Default)]
pub struct InputBox {
    /// The text being written.
    pub text: String,
    focus_requested: bool,
    /// The text came from a sent message: sending it edits that message.
    editing: Option<Editing>,
    /// Put the cursor after the text on the next frame.
    cursor_to_end: bool,
}

impl InputBox {
    /// The id of the message field.
    pub fn id() -> Id {
        Id::unique("rustbot_message_input")
    }

    /// Whether sending now would edit a sent message.
    pub fn is_editing(&self) -> bool {
        self.editing.is_some()
    }

    /// Puts a sent message (view id `message`) into the box: sending it then edits it.
    pub fn start_editing(&mut self, message: u64, text: &str) {
        self.text = text.to_string();
        self.editing = Some(Editing::Message(message));
        self.cursor_to_end = true;
        self.focus_requested = true;
    }

    /// Leaves the edit: the box is emptied and sends new messages again.
    pub fn cancel_editing(&mut self) {
        if self.editing.take().is_some() {
            self.text.clear();
        }
        self.focus_requested = true;
    }

    /// Gives the field keyboard focus on the next frame.
    pub fn request_focus(&mut self) {
        self.focus_requested = true;
    }

    /// Draws the box. `run_active` turns Send into Stop; `last_user_text` is what Up recalls
    /// into an empty box; `tray` lets files go without words, and holds Send while they load.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        run_active: bool,
        last_user_text: Option<&str>,
        tray: TrayState,
    ) -> Option<InputAction> {
        let id = Self::id();
        let mut action = None;
        let had_focus = ui.memory(|m| m.has_focus(id));

        // Read the keys meant for us before the field sees them. Esc stops from anywhere on
        // the page (egui has already taken focus from the field when it sees Esc).
        let escape = ui.input(|i| i.key_pressed(Key::Escape));
        let (enter, up) = if had_focus {
            ui.input_mut(|i| {
                let enter = i.events.iter().any(|e| {
                    matches!(e, Event::Key { key: Key::Enter, pressed: true, modifiers, .. }
                        if !modifiers.shift && !modifiers.alt && !modifiers.command && !modifiers.ctrl)
                });
                let up = self.text.is_empty() && i.consume_key(Modifiers::NONE, Key::ArrowUp);
                (enter, up)
            })
        } else {
            (false, false)
        };

        if self.editing.is_some() {
            // Wrapped, so a narrow window never pushes the Send button out of view.
            ui.horizontal_wrapped(|ui| {
                if ui.small_button(CANCEL_EDIT).clicked() || (escape && !run_active) {
                    self.cancel_editing();
                }
                ui.weak(EDITING_NOTE);
            });
        }
        let button_width = 72.0;
        ui.horizontal(|ui| {
            let field_width =
                (ui.available_width() - button_width - ui.spacing().item_spacing.x).max(80.0);
            let response = ui
                .add(
                    TextEdit::multiline(&mut self.text)
                        .id(id)
                        .hint_text("Message Rustbot…  (Enter sends, Shift+Enter adds a line)")
                        .desired_rows(2)
                        .desired_width(field_width)
                        .return_key(KeyboardShortcut::new(Modifiers::SHIFT, Key::Enter)),
                )
                .accessible_name(INPUT_LABEL);

            let button_size = egui::vec2(button_width, response.rect.height().min(40.0));
            if run_active {
                let stop = ui
                    .add_sized(button_size, egui::Button::new("Stop"))
                    .on_hover_text("Stop the answer (Esc)");
                if stop.clicked() || escape {
                    action = Some(InputAction::Stop);
                }
            } else {
                // An edit replaces words only: files go with new messages.
                let files = if self.editing.is_some() {
                    0
                } else {
                    tray.files
                };
                let can_send = !tray.loading && (!self.text.trim().is_empty() || files > 0);
                let hover = if tray.loading {
                    "Waiting for the attached files to be read"
                } else {
                    "Send (Enter)"
                };
                let send = ui
                    .add_enabled_ui(can_send, |ui| {
                        ui.add_sized(button_size, egui::Button::new("Send"))
                            .on_hover_text(hover)
                            .on_disabled_hover_text(hover)
                    })
                    .inner;
                if can_send && (send.clicked() || enter) {
                    let text = self.text.trim().to_string();
                    action = Some(match self.editing.take() {
                        Some(Editing::Last) => InputAction::Edit {
                            message: None,
                            text,
                        },
                        Some(Editing::Message(id)) => InputAction::Edit {
                            message: Some(id),
                            text,
                        },
                        None => InputAction::Send(text),
                    });
                    self.text.clear();
                    self.focus_requested = true;
                }
            }
            if up && let Some(last) = last_user_text {
                self.text = last.to_string();
                self.editing = Some(Editing::Last);
                self.cursor_to_end = true;
            }
            if std::mem::take(&mut self.cursor_to_end) {
                // After a recalled text is where the user goes on typing.
                let mut state = TextEdit::load_state(ui.ctx(), id).unwrap_or_default();
                let end = egui::text::CCursor::new(self.text.chars().count());
                state
                    .cursor
                    .set_char_range(Some(egui::text::CCursorRange::one(end)));
                state.store(ui.ctx(), id);
            }
            if self.text.is_empty() {
                // Clearing the recalled text turns the edit back into a new message.
                self.editing = None;
            }
        });

        if escape || matches!(action, Some(InputAction::Stop)) {
            // Esc takes focus away from a text field; keep the user typing.
            self.focus_requested = true;
        }
        if std::mem::take(&mut self.focus_requested) {
            ui.memory_mut(|m| m.request_focus(id));
        }
        action
    }
}
