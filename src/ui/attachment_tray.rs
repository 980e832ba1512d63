//! Files waiting to go with the next message: added by the Attach button (the system's file
//! dialog), by dropping files on the window or by pasting an image; shown as removable chips
//! above the message field. Files are read and checked on a worker thread, so a large PDF
//! never stalls a frame; a refused file gets one sentence and is not added.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use egui::{ColorImage, Frame, RichText};

use crate::attachments::{self, Attachment};
use crate::config::attachments::AttachmentSettings;
use crate::ui::images::{ImageTextures, ImageVm, size_text, thumbnail_button};

/// Label (and accessible name) of the button opening the file dialog.
pub const ATTACH_LABEL: &str = "Attach files";
/// Start of the accessible name of a chip's remove button ("Remove notes.md").
pub const REMOVE_PREFIX: &str = "Remove ";
/// Shown over the window while files are dragged over it.
pub const DROP_HINT: &str = "Drop files to attach them";

/// A file ready to send.
#[derive(Debug, Clone)]
pub struct PendingFile {
    /// Its size on disk (or as pasted).
    pub size: u64,
    /// What goes with the message.
    pub attachment: Attachment,
    /// Its thumbnail, for images.
    pub image: Option<ImageVm>,
}

impl PendingFile {
    /// The file's name (the one its attachment carries).
    pub fn name(&self) -> &str {
        match &self.attachment {
            Attachment::Text { name, .. } => name,
            Attachment::Image(part) => &part.name,
        }
    }
}

/// What a worker hands back.
enum Loaded {
    /// A file checked and prepared.
    File(PendingFile),
    /// A refusal (one sentence).
    Refused(String),
    /// Paths picked in the file dialog (to load next).
    Picked(Vec<PathBuf>),
    /// The dialog closed (picked nothing, or none could open).
    DialogClosed,
}

/// The tray of files for the next message.
pub struct AttachmentTray {
    files: Vec<PendingFile>,
    /// Workers still running (loads and the dialog).
    working: usize,
    dialog_open: bool,
    /// The last refusal, shown until dismissed or the next message.
    notice: Option<String>,
    pasted: u32,
    tx: Sender<Loaded>,
    rx: Receiver<Loaded>,
}

impl Default for AttachmentTray {
    fn default() -> Self {
        let (tx, rx) = channel();
        Self {
            files: Vec::new(),
            working: 0,
            dialog_open: false,
            notice: None,
            pasted: 0,
            tx,
            rx,
        }
    }
}

/// The files taken for a message.
#[derive(Debug, Default)]
pub struct TakenFiles {
    /// What goes to the engine.
    pub attachments: Vec<Attachment>,
    /// The images, as the sent message shows them.
    pub images: Vec<ImageVm>,
}

impl AttachmentTray {
    /// The files waiting, in the order added.
    pub fn files(&self) -> &[PendingFile] {
        &self.files
    }

    /// Whether files are still being read (sending waits for them).
    pub fn is_loading(&self) -> bool {
        self.working > 0
    }

    /// Takes the files for the message being sent; the tray is empty afterwards.
    pub fn take(&mut self) -> TakenFiles {
        self.notice = None;
        let mut taken = TakenFiles::default();
        for file in self.files.drain(..) {
            taken.images.extend(file.image);
            taken.attachments.push(file.attachment);
        }
        taken
    }

    /// Reads the file at `path` on a worker thread.
    pub fn add_path(&mut self, ctx: &egui::Context, path: PathBuf, settings: AttachmentSettings) {
        self.spawn(ctx, move || {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match attachments::load(&path, &settings) {
                Ok(attachment) => Loaded::File(pending(attachment, size)),
                Err(e) => Loaded::Refused(e.to_string()),
            }
        });
    }

    /// Encodes a pasted image as PNG on a worker thread and adds it.
    pub fn add_pasted(
        &mut self,
        ctx: &egui::Context,
        image: Arc<ColorImage>,
        settings: AttachmentSettings,
    ) {
        self.pasted += 1;
        let name = format!("pasted-image-{}.png", self.pasted);
        self.spawn(ctx, move || match encode_png(&image) {
            Ok(bytes) => load_bytes(&name, bytes, &settings),
            Err(e) => Loaded::Refused(format!("the pasted image could not be encoded ({e})")),
        });
    }

    /// Opens the system's file dialog (XDG portal, else zenity) on a worker thread.
    pub fn open_dialog(&mut self, ctx: &egui::Context) {
        if self.dialog_open {
            return;
        }
        if !file_dialog_available() {
            self.notice = Some(
                "No file dialog is available here (it needs the XDG desktop portal or zenity): drop files onto the window or paste an image instead.".into(),
            );
            return;
        }
        self.dialog_open = true;
        self.spawn(ctx, || {
            match rfd::FileDialog::new()
                .set_title("Attach files")
                .pick_files()
            {
                Some(paths) if !paths.is_empty() => Loaded::Picked(paths),
                _ => Loaded::DialogClosed,
            }
        });
    }

    /// Takes what workers finished, and files dropped or images pasted this frame.
    pub fn update(&mut self, ctx: &egui::Context, settings: AttachmentSettings) {
        while let Ok(loaded) = self.rx.try_recv() {
            self.working = self.working.saturating_sub(1);
            match loaded {
                Loaded::File(file) => self.files.push(file),
                Loaded::Refused(sentence) => self.notice = Some(sentence),
                Loaded::Picked(paths) => {
                    self.dialog_open = false;
                    for path in paths {
                        self.add_path(ctx, path, settings);
                    }
                }
                Loaded::DialogClosed => self.dialog_open = false,
            }
        }
        let (dropped, pasted) = ctx.input(|i| {
            let pasted: Vec<Arc<ColorImage>> = i
                .events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::PasteImage(image) => Some(image.clone()),
                    _ => None,
                })
                .collect();
            (i.raw.dropped_files.clone(), pasted)
        });
        for file in dropped {
            // Native drops carry the file's path; it is read like a picked file.
            self.add_path(ctx, file.path().to_path_buf(), settings);
        }
        for image in pasted {
            self.add_pasted(ctx, image, settings);
        }
    }

    /// Draws the Attach button, the chips and any refusal; above the message field.
    pub fn ui(&mut self, ui: &mut egui::Ui, textures: &mut ImageTextures) {
        let mut remove = None;
        ui.horizontal_wrapped(|ui| {
            let attach = ui
                .add_enabled(!self.dialog_open, egui::Button::new("Attach…"))
                .on_hover_text("Attach files (or drop them here, or paste an image)")
                .accessible_name(ATTACH_LABEL);
            if attach.clicked() {
                self.open_dialog(ui.ctx());
            }
            for (index, file) in self.files.iter().enumerate() {
                if chip_ui(ui, textures, file) {
                    remove = Some(index);
                }
            }
            if self.working > 0 && !self.dialog_open {
                ui.spinner();
                ui.weak("Reading…");
            }
        });
        if let Some(index) = remove {
            self.files.remove(index);
        }
        if let Some(notice) = self.notice.clone() {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, notice);
                if ui.small_button("Dismiss").clicked() {
                    self.notice = None;
                }
            });
        }
    }

    fn spawn(&mut self, ctx: &egui::Context, work: impl FnOnce() -> Loaded + Send + 'static) {
        self.working += 1;
        let tx = self.tx.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("rustbot-attach".into())
            .spawn(move || {
                let _ = tx.send(work());
                ctx.request_repaint();
            });
        if let Err(e) = spawned {
            self.working -= 1;
            self.notice = Some(format!("could not start reading the file ({e})"));
        }
    }
}

/// Draws one chip; true when its remove button was pressed.
fn chip_ui(ui: &mut egui::Ui, textures: &mut ImageTextures, file: &PendingFile) -> bool {
    let mut removed = false;
    Frame::new()
        .fill(ui.visuals().faint_bg_color)
        .stroke(ui.visuals().widgets.noninteractive.bg_stroke)
        .corner_radius(6.0)
        .inner_margin(4)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                match &file.image {
                    Some(image) => {
                        thumbnail_button(ui, textures, image);
                    }
                    None => {
                        ui.label(RichText::new(kind_label(file.name())).monospace().weak());
                    }
                }
                ui.vertical(|ui| {
                    ui.label(file.name());
                    ui.weak(size_text(file.size));
                });
                let label = format!("{REMOVE_PREFIX}{}", file.name());
                removed = ui
                    .small_button("×")
                    .on_hover_text(&label)
                    .accessible_name(&label)
                    .clicked();
            });
        });
    removed
}

/// A short tag for a text file's chip: its extension, upper-cased ("PDF", "MD"), or "FILE".
fn kind_label(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, ext)| ext)
        .filter(|ext| (1..=5).contains(&ext.len()))
        .map_or_else(|| "FILE".to_string(), str::to_uppercase)
}

fn pending(attachment: Attachment, size: u64) -> PendingFile {
    let image = match &attachment {
        Attachment::Text { .. } => None,
        Attachment::Image(part) => {
            let bytes = part.bytes().unwrap_or_default();
            Some(ImageVm::decode(&part.name, &part.media_type, bytes.into()))
        }
    };
    PendingFile {
        size,
        attachment,
        image,
    }
}

fn load_bytes(name: &str, bytes: Vec<u8>, settings: &AttachmentSettings) -> Loaded {
    let size = bytes.len() as u64;
    if let Err(e) = attachments::check_size(name, size, settings) {
        return Loaded::Refused(e.to_string());
    }
    match attachments::from_bytes(name, bytes, settings) {
        Ok(attachment) => Loaded::File(pending(attachment, size)),
        Err(e) => Loaded::Refused(e.to_string()),
    }
}

fn encode_png(image: &ColorImage) -> Result<Vec<u8>, image::ImageError> {
    let [width, height] = image.size;
    let rgba: Vec<u8> = image
        .pixels
        .iter()
        .flat_map(|p| p.to_srgba_unmultiplied())
        .collect();
    let mut out = Vec::new();
    image::write_buffer_with_format(
        &mut std::io::Cursor::new(&mut out),
        &rgba,
        width as u32,
        height as u32,
        image::ExtendedColorType::Rgba8,
        image::ImageFormat::Png,
    )?;
    Ok(out)
}

/// Whether rfd can show a dialog: a D-Bus session for the XDG portal, or zenity on the PATH.
fn file_dialog_available() -> bool {
    let session_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|dir| PathBuf::from(dir).join("bus").exists());
    let zenity = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("zenity").is_file()));
    session_bus || zenity
}

/// While files are dragged over the window: a veil saying that dropping attaches them.
pub fn drop_hint_ui(ctx: &egui::Context) {
    if ctx.input(|i| i.raw.hovered_files.is_empty()) {
        return;
    }
    let rect = ctx.content_rect();
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("rustbot_drop_hint"),
    ));
    painter.rect_filled(rect, 0.0, egui::Color32::from_black_alpha(160));
    painter.text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        DROP_HINT,
        egui::FontId::proportional(22.0),
        egui::Color32::WHITE,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_image_becomes_a_png_that_round_trips() {
        let image = ColorImage::new([3, 2], vec![egui::Color32::from_rgb(10, 200, 30); 6]);
        let png = encode_png(&image).unwrap();
        assert_eq!(attachments::image_media_type(&png), Some("image/png"));
        let decoded = image::load_from_memory(&png).unwrap().to_rgba8();
        assert_eq!(decoded.dimensions(), (3, 2));
        assert_eq!(decoded.get_pixel(2, 1).0, [10, 200, 30, 255]);
    }

    #[test]
    fn chips_are_tagged_by_extension() {
        assert_eq!(kind_label("report.pdf"), "PDF");
        assert_eq!(kind_label("Makefile"), "FILE");
        assert_eq!(kind_label("x.verylongext"), "FILE");
    }
}
