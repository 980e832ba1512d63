//! A tool call's card in the conversation: name and state, the arguments exactly as they will
//! run (see `tools::call_display`), Allow/Deny while it waits, and its result — `web_search`
//! results with their addresses as links.

use egui::{Frame, Margin, RichText};

use crate::engine::{ApprovalScope, ConversationId};
use crate::tools::call_display::CallDisplay;
use crate::ui::chat::ChatAction;
use crate::ui::view_model::{ToolCallState, ToolCallVm};

/// Draws one tool call; a click on Allow or Deny is put in `action`.
pub(crate) fn tool_call_ui(
    ui: &mut egui::Ui,
    conversation: &ConversationId,
    call: &ToolCallVm,
    action: &mut Option<ChatAction>,
) {
    let visuals = ui.visuals();
    let (status, color) = match &call.state {
        ToolCallState::Invalid => ("invalid call", visuals.error_fg_color),
        ToolCallState::NeedsApproval => ("waiting for your approval", visuals.warn_fg_color),
        ToolCallState::Running => ("running", visuals.weak_text_color()),
        ToolCallState::Denied => ("denied", visuals.error_fg_color),
        ToolCallState::Finished { is_error: false } => ("done", visuals.weak_text_color()),
        ToolCallState::Finished { is_error: true } => ("failed", visuals.error_fg_color),
    };
    Frame::new()
        .stroke(visuals.widgets.noninteractive.bg_stroke)
        .corner_radius(6.0)
        .inner_margin(Margin::same(6))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("Tool {}", call.name)).strong());
                ui.label(RichText::new(status).color(color));
                if call.state == ToolCallState::Running {
                    ui.spinner();
                }
            });
            call_arguments_ui(ui, call);
            if call.state == ToolCallState::NeedsApproval {
                ui.horizontal_wrapped(|ui| {
                    let approve = |scope| ChatAction::ApproveTool {
                        conversation: conversation.clone(),
                        call_id: call.call_id.clone(),
                        scope,
                    };
                    if ui.button("Allow once").clicked() {
                        *action = Some(approve(ApprovalScope::Once));
                    }
                    if ui.button("Allow in this chat").clicked() {
                        *action = Some(approve(ApprovalScope::Conversation));
                    }
                    if ui.button("Always allow").clicked() {
                        *action = Some(approve(ApprovalScope::Always));
                    }
                    if ui.button("Deny").clicked() {
                        *action = Some(ChatAction::DenyTool {
                            conversation: conversation.clone(),
                            call_id: call.call_id.clone(),
                        });
                    }
                });
            }
            if let Some(result) = &call.result {
                egui::CollapsingHeader::new("Result")
                    .id_salt(("tool_result", &call.call_id))
                    .show(ui, |ui| {
                        let shown: String = result.chars().take(4000).collect();
                        if call.name == "web_search" {
                            search_results_ui(ui, &shown);
                        } else {
                            ui.add(
                                egui::Label::new(RichText::new(shown).monospace().small()).wrap(),
                            );
                        }
                    });
            }
        });
}

/// `web_search` results with their addresses as links (a line of its own per URL).
fn search_results_ui(ui: &mut egui::Ui, text: &str) {
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("https://") || line.starts_with("http://") {
            ui.hyperlink(line);
        } else if !line.is_empty() {
            ui.add(egui::Label::new(RichText::new(line).small()).wrap());
        }
    }
}

/// Arguments longer than this are shown in a scrolling box, with "Show all" to expand it.
const LONG_ARGUMENTS: usize = 600;

/// The call's arguments exactly as they will run: pretty-printed, control and invisible
/// characters made visible, `run_shell`'s command on a line of its own; never cut.
fn call_arguments_ui(ui: &mut egui::Ui, call: &ToolCallVm) {
    let display = CallDisplay::new(&call.name, &call.arguments);
    if let Some(command) = &display.command {
        ui.label(RichText::new("Command:").small());
        ui.add(egui::Label::new(RichText::new(command).monospace().strong()).wrap());
    }
    if !display.has_arguments() {
        return;
    }
    let text = RichText::new(&display.arguments).monospace().small();
    if display.arguments.len() <= LONG_ARGUMENTS {
        ui.add(egui::Label::new(text).wrap());
        return;
    }
    let id = ui.make_persistent_id(("tool_args_all", &call.call_id));
    let mut show_all = ui.data(|d| d.get_temp::<bool>(id)).unwrap_or(false);
    if ui
        .checkbox(
            &mut show_all,
            format!(
                "Show all ({} characters)",
                display.arguments.chars().count()
            ),
        )
        .changed()
    {
        ui.data_mut(|d| d.insert_temp(id, show_all));
    }
    let height = if show_all { f32::INFINITY } else { 160.0 };
    egui::ScrollArea::vertical()
        .id_salt(("tool_args", &call.call_id))
        .max_height(height)
        .show(ui, |ui| {
            ui.add(egui::Label::new(text).wrap());
        });
}
