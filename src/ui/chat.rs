//! The conversation: messages with role, model and time, Markdown answers streaming in, error
//! cards with Retry. Only the messages inside the viewport are laid out; the others take the
//! height measured the last time they were shown.

use std::collections::HashMap;

use egui::{Align, Color32, Frame, Layout, Margin, Rect, RichText, ScrollArea, UiBuilder, vec2};
use egui_commonmark::{CommonMarkCache, CommonMarkViewer};

use crate::engine::{ApprovalScope, ConversationId};
use crate::ui::code_fences::normalize_fences;
use crate::ui::message_bar::message_bar_ui;
use crate::ui::personas::AgentChoice;
use crate::ui::tool_card::tool_call_ui;
use crate::ui::view_model::{Author, ConversationVm, MessageStatus, MessageVm, RunState, UnixMs};

/// What the chat view asks the app to do.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum ChatAction {
    /// Answer the conversation's last user message again (`Command::Retry`).
    Retry(ConversationId),
    /// Let a tool call that waits for approval run (`Command::ApproveTool`).
    ApproveTool {
        /// The conversation.
        conversation: ConversationId,
        /// The call.
        call_id: String,
        /// How far the approval reaches.
        scope: ApprovalScope,
    },
    /// Refuse a tool call that waits for approval (`Command::DenyTool`).
    DenyTool {
        /// The conversation.
        conversation: ConversationId,
        /// The call.
        call_id: String,
    },
    /// Show the branch through this stored message (`Command::SelectBranch`).
    SelectBranch {
        /// The conversation.
        conversation: ConversationId,
        /// The stored message starting the wanted branch.
        message_id: i64,
    },
    /// Put this sent message into the input box to edit and send again.
    Edit {
        /// The conversation.
        conversation: ConversationId,
        /// The message (its view id).
        message: u64,
        /// Its text.
        text: String,
    },
    /// Delete this stored message (`Command::DeleteMessage`).
    Delete {
        /// The conversation.
        conversation: ConversationId,
        /// The stored message.
        message_id: i64,
    },
    /// Summarise the conversation's older turns now (`Command::Compact`).
    Compact(ConversationId),
    /// Answer in this conversation as this agent from now on (`Command::SetAgent`).
    SetAgent {
        /// The conversation.
        conversation: ConversationId,
        /// The agent's name.
        agent: String,
    },
}

/// The accessible name of the agent picker in the chat header.
pub const AGENT_PICKER_LABEL: &str = "Agent";

/// Vertical gap between messages, in points.
const MESSAGE_GAP: f32 = 10.0;
/// Lay out messages this far outside the viewport too, so scrolling does not pop.
const OVERSCAN: f32 = 200.0;

#[derive(Debug, Clone, Copy)]
struct MeasuredHeight {
    revision: u64,
    width: f32,
    height: f32,
}

/// State of the chat view that outlives a frame: measured heights and the Markdown cache.
#[derive(Default)]
pub struct ChatView {
    heights: HashMap<u64, MeasuredHeight>,
    /// Created on the first Markdown message: loading the syntax sets costs start-up time.
    markdown: Option<CommonMarkCache>,
    jump_to_latest: bool,
    /// How many messages were laid out in the last frame (for tests and the perf notes).
    pub last_laid_out: usize,
    /// The agents the header's picker offers (empty: no picker).
    pub agent_names: Vec<String>,
    /// The message whose Delete waits for a second click.
    confirm_delete: Option<u64>,
    /// Textures of attached images (thumbnails and the larger view), shared with the tray.
    pub images: crate::ui::images::ImageTextures,
    /// Answers whose Thinking section was folded when their answer began (once, so the
    /// user can open it again).
    thinking_folded: std::collections::HashSet<u64>,
}

impl ChatView {
    /// Scrolls to the newest message on the next frame.
    pub fn scroll_to_latest(&mut self) {
        self.jump_to_latest = true;
    }

    /// Draws the conversation.
    pub fn ui(&mut self, ui: &mut egui::Ui, conv: &ConversationVm) -> Option<ChatAction> {
        let mut action = None;
        header_ui(ui, conv, &mut action);
        if !self.agent_names.is_empty() {
            let current = conv.agent.as_deref().unwrap_or("Default");
            ui.horizontal(|ui| {
                let picked = agent_picker_ui(ui, &conv.id, current, &self.agent_names, false);
                if let Some(AgentChoice::Named(agent)) = picked {
                    action = Some(ChatAction::SetAgent {
                        conversation: conv.id.clone(),
                        agent,
                    });
                }
                if let Some(note) = &conv.agent_note {
                    ui.weak(note);
                }
            });
        }
        ui.separator();

        if conv.messages.is_empty() {
            ui.add_space(ui.available_height() * 0.3);
            ui.vertical_centered(|ui| {
                ui.heading("Ask anything.");
                ui.weak("Enter sends · Shift+Enter adds a line · Esc stops");
            });
            if let Some(notice) = &conv.notice {
                error_card(ui, notice, None, &mut action);
            }
            return action;
        }

        let jump = std::mem::take(&mut self.jump_to_latest);
        let output = ScrollArea::vertical()
            .id_salt(("chat", &conv.id))
            .auto_shrink(false)
            .stick_to_bottom(true)
            .show_viewport(ui, |ui, viewport| {
                self.messages_ui(ui, viewport, conv, jump, &mut action);
            });

        let at_bottom = output.state.clamped_offset().y + output.inner_rect.height()
            >= output.content_size.y - 8.0;
        if !at_bottom {
            let size = vec2(150.0, 28.0);
            let rect =
                Rect::from_center_size(output.inner_rect.center_bottom() - vec2(0.0, size.y), size);
            if ui.put(rect, egui::Button::new("Jump to latest")).clicked() {
                self.jump_to_latest = true;
                ui.ctx().request_repaint();
            }
        }
        action
    }

    fn messages_ui(
        &mut self,
        ui: &mut egui::Ui,
        viewport: Rect,
        conv: &ConversationVm,
        jump: bool,
        action: &mut Option<ChatAction>,
    ) {
        let width = ui.available_width();
        let origin = ui.max_rect().min;
        let run_idle = !conv.run.is_active();
        let last_index = conv.messages.len() - 1;
        let mut y = 0.0;
        let mut laid_out = 0;
        let mut changed = false;
        // Looked up once: per message it cost more than the rest of a 10,000-message frame.
        let row = ui.text_style_height(&egui::TextStyle::Body);
        for (index, msg) in conv.messages.iter().enumerate() {
            let cached = self
                .heights
                .get(&msg.id)
                .filter(|h| (h.width - width).abs() < 0.5);
            let mut height = cached.map_or_else(|| estimate_height(row, msg, width), |h| h.height);
            let fresh = cached.is_some_and(|h| h.revision == msg.revision);
            let visible = y + height >= viewport.min.y - OVERSCAN && y <= viewport.max.y + OVERSCAN;
            if visible {
                let max_rect =
                    Rect::from_min_size(origin + vec2(0.0, y), vec2(width, f32::INFINITY));
                let builder = UiBuilder::new().max_rect(max_rect).id_salt(msg.id);
                let response = ui.scope_builder(builder, |ui| {
                    let is_last = index == last_index;
                    self.message_ui(ui, conv, msg, is_last && run_idle, action);
                });
                let measured = response.response.rect.height();
                if !fresh || (measured - height).abs() > 0.5 {
                    changed |= (measured - height).abs() > 0.5;
                    self.heights.insert(
                        msg.id,
                        MeasuredHeight {
                            revision: msg.revision,
                            width,
                            height: measured,
                        },
                    );
                }
                height = measured;
                laid_out += 1;
            }
            y += height + MESSAGE_GAP;
        }
        let total = (y - MESSAGE_GAP).max(0.0);
        // Not `set_min_height`: that measures from the cursor, which sits below the last
        // message laid out, not at the top.
        ui.expand_to_include_y(origin.y + total);
        self.last_laid_out = laid_out;
        if changed {
            // Heights of messages estimated so far were corrected: settle the layout.
            ui.ctx().request_repaint();
        }
        if jump {
            let bottom = Rect::from_min_size(origin + vec2(0.0, total), vec2(1.0, 1.0));
            ui.scroll_to_rect(bottom, Some(Align::BOTTOM));
        }
    }

    fn message_ui(
        &mut self,
        ui: &mut egui::Ui,
        conv: &ConversationVm,
        msg: &MessageVm,
        may_retry: bool,
        action: &mut Option<ChatAction>,
    ) {
        let visuals = ui.visuals();
        let fill = match msg.role {
            Author::User | Author::Summary => visuals.faint_bg_color,
            Author::Assistant => Color32::TRANSPARENT,
        };
        Frame::new()
            .fill(fill)
            .corner_radius(6.0)
            .inner_margin(Margin::same(8))
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                message_bar_ui(ui, conv, msg, &mut self.confirm_delete, action);
                match msg.role {
                    Author::User => {
                        crate::ui::user_message::user_message_ui(ui, &mut self.images, msg);
                    }
                    Author::Summary => summary_card_ui(ui, msg),
                    Author::Assistant
                        if msg.text.is_empty() && msg.status == MessageStatus::Streaming =>
                    {
                        self.reasoning_ui(ui, msg);
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.weak(waiting_text(&conv.run));
                        });
                    }
                    Author::Assistant => {
                        self.reasoning_ui(ui, msg);
                        let cache = self.markdown.get_or_insert_with(CommonMarkCache::default);
                        let sources = crate::ui::citations::sources(msg);
                        let text = normalize_fences(&msg.text);
                        let text = crate::ui::citations::link_citations(&text, &sources);
                        CommonMarkViewer::new().show(ui, cache, &text);
                        sources_ui(ui, msg);
                    }
                }
                for call in &msg.tools {
                    tool_call_ui(ui, &conv.id, call, action);
                }
                if let Some(usage) = &msg.usage {
                    ui.weak(usage);
                }
                match msg.status {
                    MessageStatus::Stopped => {
                        ui.label(
                            RichText::new("Stopped by you. The partial answer is kept.")
                                .weak()
                                .italics(),
                        );
                    }
                    MessageStatus::Failed => {
                        let error = msg.error.as_deref().unwrap_or("The answer failed.");
                        // A message refused before it was sent has nothing to retry.
                        let retry =
                            (may_retry && msg.role == Author::Assistant).then(|| conv.id.clone());
                        error_card(ui, error, retry, action);
                    }
                    _ => {}
                }
                if may_retry
                    && msg.role == Author::Assistant
                    && matches!(msg.status, MessageStatus::Complete | MessageStatus::Stopped)
                    && ui
                        .small_button("Regenerate")
                        .on_hover_text("Answer the last message again")
                        .clicked()
                {
                    *action = Some(ChatAction::Retry(conv.id.clone()));
                }
            });
    }
}

fn header_ui(ui: &mut egui::Ui, conv: &ConversationVm, action: &mut Option<ChatAction>) {
    ui.horizontal(|ui| {
        ui.heading(&conv.title);
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let status = match &conv.run {
                RunState::Idle => String::new(),
                RunState::Sending => "Sending…".to_string(),
                RunState::Waiting { model } => format!("Waiting for {model}…"),
                RunState::Retrying { attempt, reason } => {
                    format!("Retrying (attempt {attempt}): {reason}")
                }
                RunState::Thinking => "Thinking…".to_string(),
                RunState::Streaming => "Answering…".to_string(),
                RunState::Stopping => "Stopping…".to_string(),
            };
            if !status.is_empty() {
                ui.weak(status);
            }
            context_meter_ui(ui, conv, action);
            if let Some(turns) = conv.trimmed_turns {
                ui.weak(format!("{turns} older turns left out to fit the context"))
                    .on_hover_text(
                        "The model's context window is full; the oldest turns were not sent.",
                    );
            }
        });
    });
    if let Some(warning) = &conv.warning {
        ui.colored_label(ui.visuals().warn_fg_color, warning);
    }
    if let Some(notice) = &conv.notice
        && !conv.messages.is_empty()
    {
        error_card(ui, notice, None, action);
    }
}

/// Heading of the list of an answer's sources (OpenRouter's web search annotations).
pub const SOURCES_TITLE: &str = "Sources";

/// The sources an answer cites, numbered as the answer cites them, as links.
fn sources_ui(ui: &mut egui::Ui, msg: &MessageVm) {
    if msg.citations.is_empty() {
        return;
    }
    ui.label(RichText::new(SOURCES_TITLE).small().strong());
    for (i, c) in msg.citations.iter().enumerate() {
        let label = format!("[{}] {}", i + 1, c.title.as_deref().unwrap_or(&c.url));
        ui.hyperlink_to(label, &c.url).on_hover_text(&c.url);
    }
}

/// Heading of the card that stands for a compaction's summary.
pub const SUMMARY_CARD_TITLE: &str = "Earlier messages summarised";
/// The header button that compacts the conversation now.
pub const COMPACT_NOW_LABEL: &str = "Compact now";

/// A compaction's summary: collapsed to its heading, open to read it.
fn summary_card_ui(ui: &mut egui::Ui, msg: &MessageVm) {
    egui::CollapsingHeader::new(SUMMARY_CARD_TITLE)
        .id_salt(("summary", msg.id))
        .show(ui, |ui| {
            ui.weak(
                "The messages above this card are sent to the model as this summary; they stay \
                 here, in search and in exports. Editing one of them branches from the originals.",
            );
            ui.add(egui::Label::new(&msg.text).selectable(true).wrap());
        });
}

/// Tokens of the last request against the window, coloured by how full it is, with a
/// button to compact now.
fn context_meter_ui(ui: &mut egui::Ui, conv: &ConversationVm, action: &mut Option<ChatAction>) {
    let Some(meter) = conv.context else {
        return;
    };
    if !conv.run.is_active()
        && ui
            .small_button(COMPACT_NOW_LABEL)
            .on_hover_text("Summarise the older turns now, so the next requests are smaller")
            .clicked()
    {
        *action = Some(ChatAction::Compact(conv.id.clone()));
    }
    let percent = meter.percent();
    let colour = if percent >= 90 {
        ui.visuals().error_fg_color
    } else if percent >= 70 {
        ui.visuals().warn_fg_color
    } else {
        ui.visuals().weak_text_color()
    };
    ui.colored_label(
        colour,
        format!("Context {} / {} ({percent}%)", meter.used, meter.window),
    )
    .on_hover_text(
        "Tokens the last request took of the model's context window. Older turns are \
         summarised when a request would pass [context] compact_at_percent.",
    );
}

/// The agent picker: a combo box named [`AGENT_PICKER_LABEL`] listing `names` (and "Auto"
/// first when `offer_auto`); returns the choice when the user makes one.
pub fn agent_picker_ui(
    ui: &mut egui::Ui,
    id_salt: impl std::hash::Hash + std::fmt::Debug,
    current: &str,
    names: &[String],
    offer_auto: bool,
) -> Option<AgentChoice> {
    let mut picked = None;
    ui.label(format!("{AGENT_PICKER_LABEL}:"));
    let inner = egui::ComboBox::from_id_salt(("agent_picker", id_salt))
        .selected_text(current)
        .show_ui(ui, |ui| {
            if offer_auto
                && ui
                    .selectable_label(current == "Auto", "Auto")
                    .on_hover_text("Choose the agent from the first message")
                    .clicked()
            {
                picked = Some(AgentChoice::Auto);
            }
            for name in names {
                if ui.selectable_label(current == name, name).clicked() {
                    picked = Some(AgentChoice::Named(name.clone()));
                }
            }
        });
    let _ = inner.response.accessible_name(AGENT_PICKER_LABEL);
    picked
}

fn error_card(
    ui: &mut egui::Ui,
    error: &str,
    retry: Option<ConversationId>,
    action: &mut Option<ChatAction>,
) {
    let color = ui.visuals().error_fg_color;
    Frame::new()
        .stroke((1.0, color))
        .corner_radius(6.0)
        .inner_margin(Margin::same(8))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.add(egui::Label::new(RichText::new(error).color(color)).selectable(true));
            if let Some(conversation) = retry
                && ui.button("Retry").clicked()
            {
                *action = Some(ChatAction::Retry(conversation));
            }
        });
}

impl ChatView {
    /// The Thinking section above an answer: open while the model thinks, folded (once) with
    /// its duration when the answer begins, reopenable.
    fn reasoning_ui(&mut self, ui: &mut egui::Ui, msg: &MessageVm) {
        let Some(reasoning) = &msg.reasoning else {
            return;
        };
        let (title, force) = match reasoning.seconds() {
            None => ("Thinking…".to_string(), Some(true)),
            Some(secs) => {
                let fold = self.thinking_folded.insert(msg.id).then_some(false);
                (format!("Thought for {secs} s"), fold)
            }
        };
        egui::CollapsingHeader::new(RichText::new(title).weak())
            .id_salt(("reasoning", msg.id))
            .open(force)
            .show(ui, |ui| {
                ui.add(
                    egui::Label::new(RichText::new(&reasoning.text).weak().small())
                        .selectable(true)
                        .wrap(),
                );
            });
    }
}

fn waiting_text(run: &RunState) -> String {
    match run {
        RunState::Thinking => "Thinking…".into(),
        RunState::Retrying { attempt, reason } => format!("Retrying (attempt {attempt}): {reason}"),
        RunState::Stopping => "Stopping…".into(),
        _ => "Waiting for the first token…".into(),
    }
}

/// A first guess of a message's height before it has been laid out: lines of wrapped text
/// `row` points high.
fn estimate_height(row: f32, msg: &MessageVm, width: f32) -> f32 {
    let chars_per_line = (width / (row * 0.5)).max(10.0);
    let lines: f32 = msg
        .text
        .lines()
        .map(|l| (l.chars().count() as f32 / chars_per_line).ceil().max(1.0))
        .sum();
    let extra = if msg.status == MessageStatus::Failed {
        3.0
    } else {
        0.0
    };
    (lines + 1.0 + extra) * row + 24.0
}

/// "14:03" for today, "Mar 4 14:03" otherwise, in local time.
pub fn format_time(ms: UnixMs) -> String {
    use chrono::{Local, TimeZone};
    let Some(time) = Local.timestamp_millis_opt(ms).single() else {
        return String::new();
    };
    if time.date_naive() == Local::now().date_naive() {
        time.format("%H:%M").to_string()
    } else {
        time.format("%b %-d %H:%M").to_string()
    }
}
