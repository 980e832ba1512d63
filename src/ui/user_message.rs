//! A user message in the chat: the words, then each attached text file folded under its name
//! (open it to read the file as sent), then the attached images as thumbnails that open a
//! larger view.

use egui::{RichText, ScrollArea};

use crate::attachments::split_text_blocks;
use crate::ui::images::{ImageTextures, size_text, thumbnail_button};
use crate::ui::view_model::MessageVm;

/// Height of an opened text file before it scrolls, in points.
const FILE_VIEW_HEIGHT: f32 = 240.0;

/// Draws the body of a user message.
pub fn user_message_ui(ui: &mut egui::Ui, textures: &mut ImageTextures, msg: &MessageVm) {
    let (words, files) = split_text_blocks(&msg.text);
    if !words.is_empty() {
        ui.add(egui::Label::new(words).selectable(true).wrap());
    }
    for (index, file) in files.iter().enumerate() {
        let title = format!("{} · {}", file.name, size_text(file.body.len() as u64));
        egui::CollapsingHeader::new(RichText::new(title).monospace())
            .id_salt(("attached-file", msg.id, index))
            .default_open(false)
            .show(ui, |ui| {
                ScrollArea::vertical()
                    .max_height(FILE_VIEW_HEIGHT)
                    .id_salt(("attached-file-body", msg.id, index))
                    .show(ui, |ui| {
                        ui.add(
                            egui::Label::new(RichText::new(file.body).monospace())
                                .selectable(true)
                                .wrap(),
                        );
                    });
            });
    }
    if !msg.images.is_empty() {
        ui.horizontal_wrapped(|ui| {
            for image in &msg.images {
                thumbnail_button(ui, textures, image);
            }
        });
    }
}
