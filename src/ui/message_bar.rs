//! The row above each message: who wrote it and when, and what can be done with it — copy,
//! edit (user messages), delete, and ‹ 2/3 › between the branches that part there.

use egui::{Align, Layout, RichText};

use crate::ui::chat::{ChatAction, format_time};
use crate::ui::view_model::{Author, ConversationVm, MessageStatus, MessageVm};

/// Accessible name of the button showing the previous branch.
pub const PREVIOUS_BRANCH: &str = "Previous version";
/// Accessible name of the button showing the next branch.
pub const NEXT_BRANCH: &str = "Next version";
/// Label of a message's edit button.
pub const EDIT: &str = "Edit";
/// Label of a message's delete button (and of the button confirming it).
pub const DELETE: &str = "Delete";
/// Label of the button confirming a delete.
pub const CONFIRM_DELETE: &str = "Delete it";

/// Draws the row. `confirm_delete` holds the message (view id) whose delete waits for a
/// second click.
pub fn message_bar_ui(
    ui: &mut egui::Ui,
    conv: &ConversationVm,
    msg: &MessageVm,
    confirm_delete: &mut Option<u64>,
    action: &mut Option<ChatAction>,
) {
    // Branch changes go through the store, which only an idle conversation may touch.
    let idle = !conv.run.is_active();
    ui.horizontal(|ui| {
        let role = match msg.role {
            Author::User => "You",
            Author::Assistant => "Assistant",
            Author::Summary => "Summary",
        };
        ui.label(RichText::new(role).strong());
        if let Some(model) = &msg.model {
            ui.weak(model);
        }
        ui.weak(format_time(msg.created_ms));
        if msg.status == MessageStatus::Pending {
            ui.weak("sending…");
        }
        if msg.siblings.has_branches() {
            branch_switcher_ui(ui, conv, msg, idle, action);
        }
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let copy = ui
                .add_enabled(!msg.text.is_empty(), egui::Button::new("Copy").small())
                .on_hover_text("Copy this message");
            if copy.clicked() {
                ui.ctx().copy_text(msg.text.clone());
            }
            let Some(store_id) = msg.store_id.filter(|_| idle) else {
                return;
            };
            if *confirm_delete == Some(msg.id) {
                if ui.small_button("Cancel").clicked() {
                    *confirm_delete = None;
                }
                if ui
                    .small_button(CONFIRM_DELETE)
                    .on_hover_text("Delete this message for good; what follows it stays")
                    .clicked()
                {
                    *confirm_delete = None;
                    *action = Some(ChatAction::Delete {
                        conversation: conv.id.clone(),
                        message_id: store_id,
                    });
                }
                ui.weak("Delete this message?");
                return;
            }
            if ui
                .small_button(DELETE)
                .on_hover_text("Delete this message (asks first)")
                .clicked()
            {
                *confirm_delete = Some(msg.id);
            }
            if msg.role == Author::User
                && ui
                    .small_button(EDIT)
                    .on_hover_text("Edit and send again as a new branch (the old one is kept)")
                    .clicked()
            {
                *action = Some(ChatAction::Edit {
                    conversation: conv.id.clone(),
                    message: msg.id,
                    text: msg.text.clone(),
                });
            }
        });
    });
}

fn branch_switcher_ui(
    ui: &mut egui::Ui,
    conv: &ConversationVm,
    msg: &MessageVm,
    idle: bool,
    action: &mut Option<ChatAction>,
) {
    let siblings = &msg.siblings;
    let n = siblings.ids.len();
    let current = siblings.current.min(n - 1);
    let mut pick = |target: usize| {
        *action = Some(ChatAction::SelectBranch {
            conversation: conv.id.clone(),
            message_id: siblings.ids[target],
        });
    };
    let previous = ui
        .add_enabled(idle && current > 0, egui::Button::new("‹").small())
        .on_hover_text("Show the previous version");
    if previous.accessible_name(PREVIOUS_BRANCH).clicked() {
        pick(current - 1);
    }
    ui.weak(format!("{}/{n}", current + 1));
    let next = ui
        .add_enabled(idle && current + 1 < n, egui::Button::new("›").small())
        .on_hover_text("Show the next version");
    if next.accessible_name(NEXT_BRANCH).clicked() {
        pick(current + 1);
    }
}
