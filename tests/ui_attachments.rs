//! Attachments in the desktop app (issue 17), over the real engine and provider against the
//! scripted server: files dropped on the window and an image pasted become chips, a chip can
//! be removed, sending puts the files into the request (an image byte for byte), the sent
//! message shows them (a thumbnail opens a larger view); a refused file gets a sentence and
//! sends nothing; a stored conversation reopens with its images.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::gui::{GuiRig, open_stored, start_gui};
use common::*;
use egui::{Color32, ColorImage, Key};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use rustbot::ui::RustbotApp;

/// A file dropped on the window, as eframe's native backend hands it over (a path).
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn start(server: &ScriptedServer) -> GuiRig {
    start_gui(server, egui::vec2(1000.0, 700.0))
}

fn drop_files(app: &mut GuiRig, paths: &[PathBuf]) {
    for path in paths {
        app.harness
            .input_mut()
            .dropped_files
            .push(Arc::new(Dropped(path.clone())));
    }
    app.harness.step();
}

fn shown(h: &Harness<'static, RustbotApp>, label: &str) -> bool {
    h.query_by_label(label).is_some()
}

fn shown_containing(h: &Harness<'static, RustbotApp>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// The last request's user message content parts.
fn sent_parts(server: &ScriptedServer) -> Vec<serde_json::Value> {
    let requests = server.requests();
    let body = requests.last().expect("a request was made").json();
    let messages = body["messages"].as_array().unwrap();
    let user = messages.iter().rev().find(|m| m["role"] == "user").unwrap();
    user["content"].as_array().expect("content parts").clone()
}

#[test]
fn dropped_files_and_a_pasted_image_go_with_the_message_and_show_in_it() {
    let server = ScriptedServer::start(vec![openai_answer(&["Seen", " them"], false)]);
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.md");
    std::fs::write(&notes, "# Notes\nbuy milk\n").unwrap();
    let picture = dir.path().join("pic.png");
    let picture_bytes = png(40, 30);
    std::fs::write(&picture, &picture_bytes).unwrap();
    let extra = dir.path().join("extra.txt");
    std::fs::write(&extra, "not wanted").unwrap();

    let mut app = start(&server);
    drop_files(&mut app, &[notes, picture, extra]);
    app.wait_for("three chips", |h| {
        shown(h, "Remove notes.md") && shown(h, "Remove pic.png") && shown(h, "Remove extra.txt")
    });
    // A pasted image (what egui hands over for Ctrl+V with an image on the clipboard).
    let pasted = ColorImage::new([3, 2], vec![Color32::from_rgb(10, 200, 30); 6]);
    app.harness.event(egui::Event::PasteImage(Arc::new(pasted)));
    app.wait_for("the pasted image's chip", |h| {
        shown(h, "Remove pasted-image-1.png")
    });
    app.harness.get_by_label("Remove extra.txt").click();
    app.wait_for("the chip removed", |h| !shown(h, "Remove extra.txt"));

    app.harness.get_by_label("Message").focus();
    app.harness.run_steps(1);
    app.harness
        .get_by_label("Message")
        .type_text("What is in these?");
    app.harness.key_press(Key::Enter);
    app.wait_for("the answer", |h| {
        shown_containing(h, "Seen them")
            && h.state()
                .view_model()
                .selected()
                .is_some_and(|c| !c.run.is_active())
    });

    let parts = sent_parts(&server);
    assert_eq!(parts.len(), 3, "{parts:#?}");
    assert_eq!(parts[0]["type"], "text");
    assert_eq!(
        parts[0]["text"], "What is in these?\n\nnotes.md\n```\n# Notes\nbuy milk\n```",
        "the text file goes in as a fenced block headed by its name; the removed one not at all"
    );
    let expected = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&picture_bytes)
    );
    assert_eq!(
        parts[1]["image_url"]["url"], expected,
        "a small dropped image goes byte for byte"
    );
    let pasted_url = parts[2]["image_url"]["url"].as_str().unwrap();
    let pasted_png = base64::engine::general_purpose::STANDARD
        .decode(pasted_url.strip_prefix("data:image/png;base64,").unwrap())
        .unwrap();
    let decoded = image::load_from_memory(&pasted_png).unwrap().to_rgba8();
    assert_eq!(decoded.dimensions(), (3, 2));
    assert_eq!(decoded.get_pixel(0, 0).0, [10, 200, 30, 255]);

    // The tray is empty again; the sent message shows its file and images.
    assert!(!shown(&app.harness, "Remove notes.md"));
    assert!(!shown(&app.harness, "Remove pic.png"));
    assert!(shown_containing(&app.harness, "notes.md · 16 B"));
    assert!(shown(&app.harness, "View image pasted-image-1.png"));
    app.harness.get_by_label("View image pic.png").click();
    app.wait_for("the larger view", |h| shown(h, "Close"));
    assert_eq!(app.harness.state().image_viewing(), Some("pic.png"));
    app.harness.get_by_label("Close").click();
    app.wait_for("the larger view closed", |h| !shown(h, "Close"));
    assert_eq!(app.harness.state().image_viewing(), None);

    // The store keeps both images with the message, the dropped one byte for byte.
    let id = app
        .harness
        .state()
        .view_model()
        .selected_id()
        .unwrap()
        .0
        .clone();
    let stored = app
        .store
        .call_blocking(move |s| s.conversation_attachments(&id))
        .unwrap()
        .unwrap();
    let files: Vec<_> = stored.into_values().flatten().collect();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].name, "pic.png");
    assert_eq!(files[0].data, picture_bytes);
    assert_eq!(files[1].name, "pasted-image-1.png");
}

#[test]
fn a_refused_file_gets_a_sentence_and_nothing_is_sent() {
    let server = ScriptedServer::start(vec![openai_answer(&["never"], false)]);
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("tool.bin");
    std::fs::write(&binary, [0x7f, b'E', b'L', b'F', 0, 1, 2]).unwrap();
    let missing = dir.path().join("gone.txt");

    let mut app = start(&server);
    drop_files(&mut app, &[binary]);
    app.wait_for("the refusal", |h| {
        shown_containing(h, "tool.bin is a binary file that is neither text, PDF nor")
    });
    drop_files(&mut app, &[missing]);
    app.wait_for("the second refusal", |h| shown_containing(h, "cannot read"));
    assert!(!shown(&app.harness, "Remove tool.bin"), "no chip for it");
    // With no words and no files there is nothing to send.
    app.harness.get_by_label("Message").focus();
    app.harness.key_press(Key::Enter);
    app.harness.run_steps(3);
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.requests().is_empty(), "no request was made");
    app.harness.get_by_label("Dismiss").click();
    app.harness.run_steps(2);
    assert!(!shown_containing(&app.harness, "cannot read"));
}

#[test]
fn a_stored_conversation_reopens_with_its_images() {
    use rustbot::store::{NewConversation, NewMessage, Role, StoreHandle, StoredAttachment};

    let dir = tempfile::tempdir().unwrap();
    let store = StoreHandle::open(dir.path()).unwrap();
    let id = rustbot::engine::ConversationId::new();
    let key = id.0.clone();
    let picture = png(64, 48);
    store
        .call_blocking(move |s| {
            s.create_conversation(
                &key,
                &NewConversation {
                    title: Some("Holiday photo".into()),
                    provider: "custom".into(),
                    model: "m".into(),
                    system_prompt: String::new(),
                    agent: None,
                    profile: None,
                },
            )?;
            let q = s.append_message(&NewMessage::new(&key, Role::User, "Where is this?"))?;
            s.attach(
                q,
                &[StoredAttachment {
                    name: "photo.png".into(),
                    media_type: "image/png".into(),
                    data: picture,
                }],
            )?;
            s.append_message(&NewMessage {
                parent_id: Some(q),
                model: Some("m".into()),
                ..NewMessage::new(&key, Role::Assistant, "A beach.")
            })?;
            Ok::<_, rustbot::store::StoreError>(())
        })
        .unwrap()
        .unwrap();

    let mut window = open_stored(store, "Holiday photo");
    let harness = &mut window.harness;
    step_until(harness, "its image", |h| shown(h, "View image photo.png"));
    let vm = harness.state().view_model();
    let message = &vm.selected().unwrap().messages[0];
    assert_eq!(message.images.len(), 1);
    let thumbnail = message.images[0].thumbnail.as_ref().expect("decoded");
    assert_eq!(thumbnail.size, [64, 48]);
}
