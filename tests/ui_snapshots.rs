//! Image snapshots of the main screens, dark and light, drawn by a CPU rasterizer (no GPU on
//! CI). `UPDATE_SNAPSHOTS=1 cargo test --test ui_snapshots` rewrites the images in
//! `tests/snapshots/`; look at them before committing.
//!
//! The images depend only on this repository: the harness's context has egui's bundled fonts
//! and no system font provider (that is set up by eframe's native window, which tests do not
//! open), the data has fixed times, and times are shown in UTC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "common/cpu_renderer.rs"]
mod cpu_renderer;

use std::sync::Once;

use cpu_renderer::CpuRenderer;
use egui::epaint::{ClippedPrimitive, ImageDelta, Mesh, Primitive};
use egui::{Color32, ColorImage, Pos2, Rect, TextureId, TextureOptions, TexturesDelta};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use rustbot::engine::{ConversationId, EngineEvent, RunMetrics, RunStatus};
use rustbot::tools::{ApprovedBy, Decision};
use rustbot::ui::settings::ThemeChoice;
use rustbot::ui::sidebar::Page;
use rustbot::ui::{AppParts, EngineLink, GuiSettings, PersistedUi, RustbotApp};

// ---------------------------------------------------------------------------------------------
// The rasterizer on hand-made meshes: a broken one would make every snapshot meaningless.

const BLACK: Color32 = Color32::BLACK;

/// A renderer holding a 1×1 white texture (what egui's untextured shapes sample) as id 0.
fn renderer_with_white() -> CpuRenderer {
    let mut renderer = CpuRenderer::new();
    let mut delta = TexturesDelta::default();
    delta.set.insert(
        TextureId::default(),
        [ImageDelta::full(
            ColorImage::new([1, 1], vec![Color32::WHITE]),
            TextureOptions::LINEAR,
        )]
        .into(),
    );
    renderer.apply_textures(&mut delta);
    renderer
}

fn clipped(mesh: Mesh, clip: Rect) -> ClippedPrimitive {
    ClippedPrimitive {
        clip_rect: clip,
        primitive: Primitive::Mesh(mesh),
    }
}

fn rect_mesh(rect: Rect, color: Color32) -> Mesh {
    let mut mesh = Mesh::default();
    mesh.add_colored_rect(rect, color);
    mesh
}

fn everything() -> Rect {
    Rect::from_min_max(Pos2::ZERO, Pos2::new(1e4, 1e4))
}

fn pixel(image: &image::RgbaImage, x: u32, y: u32) -> [u8; 4] {
    image.get_pixel(x, y).0
}

fn painted(image: &image::RgbaImage, background: Color32) -> Vec<(u32, u32)> {
    image
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0 != background.to_array())
        .map(|(x, y, _)| (x, y))
        .collect()
}

#[test]
fn a_filled_rect_covers_exactly_its_pixels() {
    let renderer = renderer_with_white();
    let red = Color32::from_rgb(200, 10, 20);
    let rect = Rect::from_min_max(Pos2::new(2.0, 3.0), Pos2::new(6.0, 7.0));
    let image = renderer
        .paint(
            &[clipped(rect_mesh(rect, red), everything())],
            1.0,
            [10, 10],
            BLACK,
        )
        .unwrap();
    let expected: Vec<(u32, u32)> = (3..7).flat_map(|y| (2..6).map(move |x| (x, y))).collect();
    assert_eq!(painted(&image, BLACK), expected);
    assert_eq!(pixel(&image, 2, 3), red.to_array());
    assert_eq!(pixel(&image, 5, 6), red.to_array());
}

#[test]
fn pixels_per_point_scales_positions() {
    let renderer = renderer_with_white();
    let rect = Rect::from_min_max(Pos2::new(1.0, 1.0), Pos2::new(3.0, 2.0));
    let image = renderer
        .paint(
            &[clipped(rect_mesh(rect, Color32::WHITE), everything())],
            2.0,
            [8, 8],
            BLACK,
        )
        .unwrap();
    let expected: Vec<(u32, u32)> = (2..4).flat_map(|y| (2..6).map(move |x| (x, y))).collect();
    assert_eq!(painted(&image, BLACK), expected);
}

#[test]
fn the_clip_rect_limits_what_is_drawn() {
    let renderer = renderer_with_white();
    let rect = Rect::from_min_max(Pos2::ZERO, Pos2::new(10.0, 10.0));
    let clip = Rect::from_min_max(Pos2::new(2.0, 4.0), Pos2::new(5.0, 6.0));
    let image = renderer
        .paint(
            &[clipped(rect_mesh(rect, Color32::WHITE), clip)],
            1.0,
            [10, 10],
            BLACK,
        )
        .unwrap();
    let expected: Vec<(u32, u32)> = (4..6).flat_map(|y| (2..5).map(move |x| (x, y))).collect();
    assert_eq!(painted(&image, BLACK), expected);
}

#[test]
fn premultiplied_colours_blend_over_what_is_below() {
    let renderer = renderer_with_white();
    let background = Color32::from_rgb(0, 0, 200);
    // Half-transparent red, premultiplied: (64, 0, 0, 128).
    let red = Color32::from_rgba_premultiplied(64, 0, 0, 128);
    let rect = Rect::from_min_max(Pos2::ZERO, Pos2::new(4.0, 4.0));
    let image = renderer
        .paint(
            &[clipped(rect_mesh(rect, red), everything())],
            1.0,
            [4, 4],
            background,
        )
        .unwrap();
    // 200 * (1 - 128/255) = 99.6
    assert_eq!(pixel(&image, 1, 1), [64, 0, 100, 255]);
}

#[test]
fn triangles_sharing_an_edge_draw_its_pixels_once() {
    // A quad's diagonal runs through pixel centres; a pixel blended twice would be darker,
    // a pixel skipped would keep the background.
    let renderer = renderer_with_white();
    let grey = Color32::from_rgba_premultiplied(100, 100, 100, 128);
    let mut prims = vec![];
    for rect in [
        Rect::from_min_max(Pos2::ZERO, Pos2::new(8.0, 8.0)),
        Rect::from_min_max(Pos2::new(0.3, 10.2), Pos2::new(7.4, 15.9)),
    ] {
        prims.push(clipped(rect_mesh(rect, grey), everything()));
    }
    let image = renderer.paint(&prims, 1.0, [8, 16], BLACK).unwrap();
    let inside = [100, 100, 100, 255];
    for y in 0..8 {
        for x in 0..8 {
            assert_eq!(pixel(&image, x, y), inside, "pixel {x},{y}");
        }
    }
    // Fractional edges: pixel centres inside are drawn once, the rest not at all.
    for y in 10..16 {
        for x in 0..8 {
            let expected = if x < 7 { inside } else { [0, 0, 0, 255] };
            assert_eq!(pixel(&image, x, y), expected, "pixel {x},{y}");
        }
    }
}

#[test]
fn textures_are_sampled_and_tinted_and_updated_in_place() {
    let mut renderer = CpuRenderer::new();
    let id = TextureId::Managed(7);
    let (r, g, b, w) = (
        Color32::from_rgb(255, 0, 0),
        Color32::from_rgb(0, 255, 0),
        Color32::from_rgb(0, 0, 255),
        Color32::WHITE,
    );
    let mut delta = TexturesDelta::default();
    delta.set.insert(
        id,
        [ImageDelta::full(
            ColorImage::new([2, 2], vec![r, g, b, w]),
            TextureOptions::NEAREST,
        )]
        .into(),
    );
    renderer.apply_textures(&mut delta);

    let quad = |tint: Color32| {
        let mut mesh = Mesh::with_texture(id);
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        mesh.add_rect_with_uv(
            Rect::from_min_max(Pos2::ZERO, Pos2::new(4.0, 4.0)),
            uv,
            tint,
        );
        [clipped(mesh, everything())]
    };
    let image = renderer
        .paint(&quad(Color32::WHITE), 1.0, [4, 4], BLACK)
        .unwrap();
    assert_eq!(pixel(&image, 0, 0), r.to_array());
    assert_eq!(pixel(&image, 3, 0), g.to_array());
    assert_eq!(pixel(&image, 0, 3), b.to_array());
    assert_eq!(pixel(&image, 3, 3), w.to_array());

    // The vertex colour multiplies the texel.
    let tint = Color32::from_rgb(128, 128, 128);
    let image = renderer.paint(&quad(tint), 1.0, [4, 4], BLACK).unwrap();
    assert_eq!(pixel(&image, 3, 3), [128, 128, 128, 255]);
    assert_eq!(pixel(&image, 0, 0), [128, 0, 0, 255]);

    // A patch replaces one texel and keeps the rest.
    let mut delta = TexturesDelta::default();
    delta.set.insert(
        id,
        [ImageDelta::partial(
            [1, 0],
            ColorImage::new([1, 1], vec![Color32::from_rgb(9, 9, 9)]),
            TextureOptions::NEAREST,
        )]
        .into(),
    );
    delta.free.insert(id);
    renderer.apply_textures(&mut delta);
    let image = renderer
        .paint(&quad(Color32::WHITE), 1.0, [4, 4], BLACK)
        .unwrap();
    assert_eq!(pixel(&image, 3, 0), [9, 9, 9, 255]);
    assert_eq!(pixel(&image, 0, 0), r.to_array());

    // A free takes effect after the frame that asked for it was painted.
    assert!(renderer.has_texture(id), "freed only after its frame");
    renderer.apply_textures(&mut TexturesDelta::default());
    assert!(!renderer.has_texture(id));
    assert!(
        renderer
            .paint(&quad(Color32::WHITE), 1.0, [4, 4], BLACK)
            .is_err()
    );
}

#[test]
fn bilinear_sampling_mixes_neighbouring_texels() {
    let mut renderer = CpuRenderer::new();
    let id = TextureId::Managed(1);
    let mut delta = TexturesDelta::default();
    delta.set.insert(
        id,
        [ImageDelta::full(
            ColorImage::new([2, 1], vec![Color32::BLACK, Color32::WHITE]),
            TextureOptions::LINEAR,
        )]
        .into(),
    );
    renderer.apply_textures(&mut delta);
    let mut mesh = Mesh::with_texture(id);
    mesh.add_rect_with_uv(
        Rect::from_min_max(Pos2::ZERO, Pos2::new(4.0, 1.0)),
        Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
        Color32::WHITE,
    );
    let image = renderer
        .paint(&[clipped(mesh, everything())], 1.0, [4, 1], BLACK)
        .unwrap();
    let row: Vec<u8> = (0..4).map(|x| pixel(&image, x, 0)[0]).collect();
    // Pixel centres at u = 1/8, 3/8, 5/8, 7/8: texel coordinates -0.25 (clamped), 0.25,
    // 0.75 and 1.25 (clamped).
    assert_eq!(row, [0, 64, 191, 255]);
}

// ---------------------------------------------------------------------------------------------
// The screens.

/// 2026-03-04 14:03:00 UTC: a fixed day in the past, so the sidebar says "Older" and messages
/// show "Mar 4 14:03".
const T0: i64 = 1_772_632_980_000;

/// Shows times in UTC whatever the machine's zone.
fn utc() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: every screen test passes through this `Once` before it starts a harness;
        // the rasterizer tests running beside them do not touch the environment, and std's
        // own reads of it are locked against `set_var`.
        unsafe { std::env::set_var("TZ", "UTC") };
    });
}

fn app(theme: ThemeChoice, page: Page) -> Harness<'static, RustbotApp> {
    utc();
    let settings = GuiSettings {
        model: "test-model".into(),
        api_key: "sk-test".into(),
        theme,
        ..GuiSettings::default()
    };
    let parts = AppParts {
        // Nothing is sent and nothing arrives: the conversation is put into the view-model.
        engine: EngineLink::new(|_| {}, |_| rustbot::engine::EventBus::new().subscribe(None)),
        settings,
        save_settings: None,
        history: None,
        models: None,
        started_at: None,
    };
    let egui_theme = match theme {
        ThemeChoice::Light => egui::Theme::Light,
        _ => egui::Theme::Dark,
    };
    Harness::builder()
        .with_size(egui::vec2(960.0, 720.0))
        .with_theme(egui_theme)
        .renderer(CpuRenderer::new())
        .build_eframe(move |cc| {
            // Opened where the last run left off, as eframe restores it: no click, so no
            // hover highlight or pointer in the picture.
            let persisted = PersistedUi {
                page,
                ..PersistedUi::default()
            };
            RustbotApp::with_context(&cc.egui_ctx, parts, persisted)
        })
}

const ANSWER: &str = "Two ways, depending on what counts as a character:

1. **Unicode scalar values**: `s.chars().rev()` is enough for most text.
2. **Grapheme clusters**: use the `unicode-segmentation` crate so that accents stay on
   their letters.

```rust
fn reverse(s: &str) -> String {
    // Reverses by `char`, not by byte.
    s.chars().rev().collect()
}
```

The file you have already does this in `main`.";

/// One conversation: a question answered in Markdown after a tool call, then a second
/// question whose answer failed half-way (an error card with Retry).
fn conversation(harness: &mut Harness<'static, RustbotApp>) {
    let conversation = ConversationId("snapshot".into());
    let c = || conversation.clone();
    let events = [
        EngineEvent::ConversationCreated { conversation: c() },
        EngineEvent::UserMessage {
            conversation: c(),
            text: "How do I reverse a string in Rust?".into(),
        },
        EngineEvent::RunStarted {
            conversation: c(),
            model: "test-model".into(),
        },
        EngineEvent::ToolCall {
            conversation: c(),
            call_id: "call-1".into(),
            name: "read_file".into(),
            arguments: r#"{"path":"src/main.rs"}"#.into(),
            decision: Some(Decision::Approved(ApprovedBy::ReadOnly)),
        },
        EngineEvent::ToolResult {
            conversation: c(),
            call_id: "call-1".into(),
            name: "read_file".into(),
            content: "fn main() {\n    println!(\"{}\", reverse(\"héllo\"));\n}".into(),
            is_error: false,
        },
        EngineEvent::Text {
            conversation: c(),
            delta: ANSWER.into(),
        },
        EngineEvent::Done {
            conversation: c(),
            status: RunStatus::Complete,
            reason: "stop".into(),
            text: ANSWER.into(),
            error: None,
            metrics: RunMetrics {
                model: "test-model".into(),
                prompt_tokens: 412,
                completion_tokens: 96,
                tokens_reported: true,
                cost_usd: Some(0.0021),
                ..RunMetrics::default()
            },
        },
        EngineEvent::TitleChanged {
            conversation: c(),
            title: "Reversing strings".into(),
        },
        EngineEvent::UserMessage {
            conversation: c(),
            text: "And in place?".into(),
        },
        EngineEvent::RunStarted {
            conversation: c(),
            model: "test-model".into(),
        },
        EngineEvent::Text {
            conversation: c(),
            delta: "A `&mut str` can be".into(),
        },
        EngineEvent::Done {
            conversation: c(),
            status: RunStatus::Failed,
            reason: "error".into(),
            text: "A `&mut str` can be".into(),
            error: Some("The server closed the connection. Try again.".into()),
            metrics: RunMetrics {
                model: "test-model".into(),
                ..RunMetrics::default()
            },
        },
    ];
    let vm = harness.state_mut().view_model_mut();
    for (i, event) in events.iter().enumerate() {
        // A second apart, as if they had streamed in.
        vm.apply(event, T0 + 1000 * i as i64);
    }
    vm.select(conversation, T0);
}

/// Frames enough for the chat to measure its messages and scroll to the end.
fn settle(harness: &mut Harness<'static, RustbotApp>) {
    harness.run_steps(6);
}

fn screen_snapshot(theme: ThemeChoice, page: Page, name: &str) {
    let mut harness = app(theme, page);
    conversation(&mut harness);
    settle(&mut harness);
    assert_eq!(harness.state().page(), page);
    harness.snapshot(name);
}

#[test]
fn chat_dark() {
    screen_snapshot(ThemeChoice::Dark, Page::Chat, "chat_dark");
}

#[test]
fn chat_light() {
    screen_snapshot(ThemeChoice::Light, Page::Chat, "chat_light");
}

#[test]
fn settings_dark() {
    screen_snapshot(ThemeChoice::Dark, Page::Settings, "settings_dark");
}

#[test]
fn settings_light() {
    screen_snapshot(ThemeChoice::Light, Page::Settings, "settings_light");
}

/// A picture for the attachment snapshot: a sky-to-sea gradient with a sun, 320×200.
fn picture_png() -> Vec<u8> {
    let image = image::RgbaImage::from_fn(320, 200, |x, y| {
        let (dx, dy) = (x as f32 - 230.0, y as f32 - 60.0);
        if dx * dx + dy * dy < 900.0 {
            image::Rgba([250, 200, 40, 255])
        } else if y < 120 {
            image::Rgba([90, 150, 230 - (y as u8 / 2), 255])
        } else {
            image::Rgba([20, 60 + (x as u8 / 8), 120, 255])
        }
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A message with an attached image and text file, and an answer after its thinking: the
/// thumbnail and the folded file above, "Thought for 3 s" folded over the answer.
#[test]
fn chat_attachments_and_reasoning_dark() {
    use rustbot::attachments::{Attachment, fenced, message_text};
    use rustbot::ui::images::ImageVm;
    let mut harness = app(ThemeChoice::Dark, Page::Chat);
    let conversation = ConversationId("attached".into());
    let c = || conversation.clone();
    let file = Attachment::Text {
        name: "notes.md".into(),
        block: fenced("notes.md", "# Trip\n\nBeach day, 24 °C.\n"),
    };
    let text = message_text("Where was this taken? My notes are attached.", &[file]);
    let image = ImageVm::decode("beach.png", "image/png", picture_png().into());
    {
        let vm = harness.state_mut().view_model_mut();
        vm.apply(&EngineEvent::ConversationCreated { conversation: c() }, T0);
        vm.user_sent_with_images(&c(), &text, vec![image], T0);
        let events = [
            EngineEvent::UserMessage {
                conversation: c(),
                text: text.clone(),
            },
            EngineEvent::RunStarted {
                conversation: c(),
                model: "vision-model".into(),
            },
            EngineEvent::Reasoning {
                conversation: c(),
                delta: "A sunny beach, calm sea; the notes say 24 °C.".into(),
            },
            EngineEvent::Text {
                conversation: c(),
                delta: "A beach on a clear day, as your notes say.".into(),
            },
            EngineEvent::Done {
                conversation: c(),
                status: RunStatus::Complete,
                reason: "stop".into(),
                text: "A beach on a clear day, as your notes say.".into(),
                error: None,
                metrics: RunMetrics {
                    model: "vision-model".into(),
                    ..RunMetrics::default()
                },
            },
        ];
        for (i, event) in events.iter().enumerate() {
            vm.apply(event, T0 + 1000 * (i as i64 + 1));
        }
        vm.select(c(), T0);
    }
    settle(&mut harness);
    harness.get_by_label("View image beach.png");
    harness.snapshot("chat_attachments_dark");
}
