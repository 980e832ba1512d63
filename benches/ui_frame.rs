//! One headless frame of the real app (engine events drained, every panel drawn, output
//! tessellated; no GPU) while an answer streams into a long conversation, scrolled to the
//! bottom. Each iteration publishes one text delta on the event bus, as the engine does, then
//! runs the frame that shows it. Budget (issue 10): ≤ 4 ms per frame at 10,000 messages.
//!
//! `cargo bench --bench ui_frame` (one case: `cargo bench --bench ui_frame -- streaming/10000`)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use eframe::App as _;
use rustbot::engine::{ConversationId, EngineEvent, EventBus};
use rustbot::ui::view_model::{Author, LoadedMessage, MessageStatus, Siblings, StoredSummary};
use rustbot::ui::{AppParts, EngineLink, GuiSettings, PersistedUi, RustbotApp};

/// The answer that streams in, token by token; long enough to wrap, with two highlighted
/// code blocks, so the frame pays for Markdown and syntax highlighting as a real answer does.
const STREAMED_ANSWER: &str = "## Streaming answer\n\nHere is how to read a file line by line \
in **Rust**, with errors handled by `?` instead of `unwrap`, and the same in Python for \
comparison.\n\n```rust\nuse std::io::{BufRead, BufReader};\n\nfn count_lines(path: &str) -> \
std::io::Result<usize> {\n    let file = std::fs::File::open(path)?;\n    let mut n = 0;\n    \
for line in BufReader::new(file).lines() {\n        if !line?.trim().is_empty() {\n            \
n += 1;\n        }\n    }\n    Ok(n)\n}\n```\n\nThe reader buffers 8 KiB at a time, so the \
loop does not make a system call per line. In Python:\n\n```python\ndef count_lines(path: str) \
-> int:\n    with open(path) as f:\n        return sum(1 for line in f if line.strip())\n```\n\n\
- both skip blank lines\n- both close the file when done\n- the Rust version reports I/O \
errors to its caller\n\nFor very large files, memory-map them or read in parallel chunks.\n";

/// A stored message, built in one place so a new `LoadedMessage` field is a one-line change.
fn loaded(role: Author, text: String, created_ms: i64) -> LoadedMessage {
    LoadedMessage {
        role,
        text,
        model: (role == Author::Assistant).then(|| "vendor/model".to_string()),
        created_ms,
        status: MessageStatus::Complete,
        error: None,
        // Stored messages have ids, so their Edit and Delete buttons are drawn as in the app.
        store_id: Some(created_ms),
        siblings: Siblings::default(),
        usage: None,
        images: Vec::new(),
    }
}

/// Message `i` of a generated conversation: user questions and Markdown answers with code.
fn message(i: usize) -> LoadedMessage {
    let created_ms = 1_700_000_000_000 + i as i64 * 1000;
    if i.is_multiple_of(2) {
        return loaded(
            Author::User,
            format!("Question {i}: how do I read a file and count its non-blank lines?"),
            created_ms,
        );
    }
    let text = match i % 3 {
        0 => format!(
            "**Answer {i}.** Use a buffered reader:\n\n```rust\nlet file = File::open(path)?;\n\
             for line in BufReader::new(file).lines() {{\n    println!(\"{{}}\", line?);\n}}\n```\n\n\
             - `lines()` strips the newline\n- errors come back per line\n"
        ),
        1 => format!(
            "**Answer {i}.** In Python it is one line:\n\n```python\nn = sum(1 for l in \
             open(path) if l.strip())\n```\n\nThe file is closed when the generator is \
             collected; prefer `with open(path) as f:` in long-running programs.\n"
        ),
        _ => format!(
            "**Answer {i}.** Both work. The *Rust* version reports I/O errors to its caller and \
             never panics; the Python one raises `OSError`. For files larger than memory, \
             neither reads the whole file at once, so both run in constant space.\n"
        ),
    };
    loaded(Author::Assistant, text, created_ms)
}

/// Splits the answer into token-sized deltas (a word with its leading space, or a newline).
fn deltas(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if (c == ' ' || c == '\n') && !current.trim().is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    out.push(current);
    out
}

struct Rig {
    ctx: egui::Context,
    app: RustbotApp,
    frame: eframe::Frame,
    bus: EventBus,
    conversation: ConversationId,
    deltas: Vec<String>,
    next_delta: usize,
    time: f64,
}

impl Rig {
    /// The app with one selected conversation of `n` messages, the last an answer streaming.
    fn new(n: usize) -> Self {
        let ctx = egui::Context::default();
        let bus = EventBus::new();
        let engine = EngineLink::new(|_command| {}, |waker| bus.subscribe(Some(waker)));
        let settings = GuiSettings {
            model: "vendor/model".into(),
            api_key: "sk-bench".into(),
            ..GuiSettings::default()
        };
        let parts = AppParts {
            engine,
            settings,
            save_settings: None,
            history: None,
            models: None,
            started_at: None,
        };
        let mut app = RustbotApp::with_context(&ctx, parts, PersistedUi::default());
        let conversation = ConversationId::from("bench");
        let vm = app.view_model_mut();
        vm.load_summaries(vec![StoredSummary {
            id: conversation.clone(),
            title: Some("A long conversation".into()),
            created_ms: 1_700_000_000_000,
            updated_ms: 1_700_000_000_000,
            pinned: false,
        }]);
        vm.load_messages(&conversation, (0..n - 1).map(message).collect());
        vm.select(conversation.clone(), 1_700_000_000_000);
        let mut rig = Self {
            ctx,
            app,
            frame: eframe::Frame::_new_kittest(),
            bus,
            conversation,
            deltas: deltas(STREAMED_ANSWER),
            next_delta: 0,
            time: 0.0,
        };
        rig.start_answer();
        rig
    }

    fn start_answer(&mut self) {
        self.bus.publish(EngineEvent::RunStarted {
            conversation: self.conversation.clone(),
            model: "vendor/model".into(),
        });
        self.next_delta = 0;
    }

    /// Publishes the next delta; a finished answer is replaced by a new one (the view's
    /// "regenerate"), so the message count stays `n` however many iterations criterion runs.
    fn stream_one(&mut self) {
        if self.next_delta == self.deltas.len() {
            let vm = self.app.view_model_mut();
            vm.retry_requested(&self.conversation, 1_700_000_000_000);
            self.start_answer();
        }
        self.bus.publish(EngineEvent::Text {
            conversation: self.conversation.clone(),
            delta: self.deltas[self.next_delta].clone(),
        });
        self.next_delta += 1;
    }

    /// One pass of the app as eframe runs it (engine events drained, then every panel).
    fn run(&mut self) -> egui::FullOutput {
        self.time += 1.0 / 60.0;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1000.0, 720.0),
            )),
            time: Some(self.time),
            ..Default::default()
        };
        let Self {
            ctx, app, frame, ..
        } = self;
        ctx.run_ui(input, |ui| {
            let ctx = ui.ctx().clone();
            app.logic(&ctx, frame);
            app.ui(ui, frame);
        })
    }

    /// A whole frame short of the GPU: the pass, then tessellation; returns the primitives.
    fn frame(&mut self) -> usize {
        let out = self.run();
        self.ctx.tessellate(out.shapes, out.pixels_per_point).len()
    }
}

/// Whether any text painted contains `needle`.
fn shows(shapes: &[egui::epaint::ClippedShape], needle: &str) -> bool {
    fn walk(shape: &egui::Shape, needle: &str) -> bool {
        match shape {
            egui::Shape::Text(text) => text.galley.text().contains(needle),
            egui::Shape::Vec(shapes) => shapes.iter().any(|s| walk(s, needle)),
            _ => false,
        }
    }
    shapes.iter().any(|s| walk(&s.shape, needle))
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("ui_frame");
    for n in [100, 1_000, 10_000] {
        let mut rig = Rig::new(n);
        // Settle heights and the scroll position before anything is timed.
        for _ in 0..20 {
            rig.stream_one();
            rig.frame();
        }
        let out = rig.run();
        assert!(
            shows(&out.shapes, "Streaming answer"),
            "the streaming answer is on screen (scrolled to the bottom)"
        );
        let laid_out = rig.app.laid_out_messages();
        assert!(
            (1..40).contains(&laid_out),
            "{n} messages: {laid_out} laid out"
        );
        group.bench_function(BenchmarkId::new("streaming", n), |b| {
            b.iter(|| {
                rig.stream_one();
                black_box(rig.frame())
            })
        });
    }
    group.finish();
}

criterion_group!(ui_frame, benches);
criterion_main!(ui_frame);
