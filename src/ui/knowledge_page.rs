//! The Knowledge page: the bases with their folders, files and chunks; adding and removing
//! folders (indexed on a thread of its own, with progress); and a search box to try questions.
//! The page only draws and hands work to its worker thread.

use std::path::PathBuf;
use std::sync::mpsc;

use egui::RichText;

use crate::knowledge::{self, BaseSummary, Hit, KnowledgeDb, Retriever};

/// What the page needs: where the bases live and how to search them.
#[derive(Clone)]
pub struct KnowledgeParts {
    /// The data dir (`knowledge.db` is there).
    pub data_dir: PathBuf,
    /// The retriever (shares the engine's loaded embedding model).
    pub retriever: Retriever,
    /// `[knowledge] chunk_tokens`.
    pub chunk_tokens: usize,
}

/// Accessible names of the page's controls.
pub const FOLDER_LABEL: &str = "Folder to add";
/// The base the folder goes into.
pub const BASE_LABEL: &str = "Knowledge base";
/// The add button.
pub const ADD_LABEL: &str = "Add and index";
/// The search box.
pub const QUERY_LABEL: &str = "Try a question";

/// What the worker thread reports.
enum Reply {
    Listed(Result<Vec<BaseSummary>, String>),
    Progress(usize),
    Indexed(Result<String, String>),
    Found(Result<Vec<Hit>, String>),
}

/// The page's state.
pub struct KnowledgePage {
    parts: Option<KnowledgeParts>,
    bases: Vec<BaseSummary>,
    folder: String,
    base: String,
    query: String,
    hits: Vec<Hit>,
    status: Option<(String, bool)>,
    indexing: Option<usize>,
    listed: bool,
    replies: (mpsc::Sender<Reply>, mpsc::Receiver<Reply>),
}

impl Default for KnowledgePage {
    fn default() -> Self {
        Self {
            parts: None,
            bases: Vec::new(),
            folder: String::new(),
            base: knowledge::DEFAULT_BASE.to_string(),
            query: String::new(),
            hits: Vec::new(),
            status: None,
            indexing: None,
            listed: false,
            replies: mpsc::channel(),
        }
    }
}

impl KnowledgePage {
    /// A page over `parts`.
    pub fn new(parts: KnowledgeParts) -> Self {
        Self {
            parts: Some(parts),
            ..Self::default()
        }
    }

    fn spawn(
        &self,
        ctx: &egui::Context,
        work: impl FnOnce(&KnowledgeParts, &dyn Fn(Reply)) + Send + 'static,
    ) {
        let Some(parts) = self.parts.clone() else {
            return;
        };
        let tx = self.replies.0.clone();
        let ctx = ctx.clone();
        let send = move |r: Reply| {
            let _ = tx.send(r);
            ctx.request_repaint();
        };
        let spawned = std::thread::Builder::new()
            .name("knowledge-page".into())
            .spawn(move || work(&parts, &send));
        if let Err(e) = spawned {
            tracing::warn!("the knowledge worker did not start: {e}");
        }
    }

    fn refresh(&mut self, ctx: &egui::Context) {
        self.listed = true;
        self.spawn(ctx, |parts, send| {
            let listed = KnowledgeDb::open(&parts.data_dir)
                .and_then(|db| db.list())
                .map_err(|e| e.to_string());
            send(Reply::Listed(listed));
        });
    }

    fn drain(&mut self, ctx: &egui::Context) {
        while let Ok(reply) = self.replies.1.try_recv() {
            match reply {
                Reply::Listed(Ok(bases)) => self.bases = bases,
                Reply::Listed(Err(e)) => self.status = Some((e, true)),
                Reply::Progress(n) => self.indexing = Some(n),
                Reply::Indexed(result) => {
                    self.indexing = None;
                    self.status = Some(match result {
                        Ok(text) => (text, false),
                        Err(e) => (e, true),
                    });
                    self.refresh(ctx);
                }
                Reply::Found(Ok(hits)) => {
                    if hits.is_empty() {
                        self.status = Some(("Nothing found.".into(), false));
                    }
                    self.hits = hits;
                }
                Reply::Found(Err(e)) => self.status = Some((e, true)),
            }
        }
    }

    fn add(&mut self, ctx: &egui::Context) {
        let folder = PathBuf::from(self.folder.trim());
        let base = match self.base.trim() {
            "" => knowledge::DEFAULT_BASE.to_string(),
            b => b.to_string(),
        };
        self.indexing = Some(0);
        self.status = None;
        self.spawn(ctx, move |parts, send| {
            let result = (|| {
                let mut db = KnowledgeDb::open(&parts.data_dir)?;
                let embedder = parts.retriever.loaded_embedder()?;
                let model = parts.retriever.model_name();
                if db.base_model(&base)?.as_deref() != Some(model.as_str()) {
                    db.forget_hashes(&base)?;
                    db.set_base(&base, &model)?;
                }
                let mut done = 0;
                knowledge::index_path(
                    &mut db,
                    &base,
                    &folder,
                    parts.chunk_tokens,
                    embedder.as_deref(),
                    &mut |_| {
                        done += 1;
                        send(Reply::Progress(done));
                    },
                )
            })();
            send(Reply::Indexed(
                result
                    .map(|r| {
                        let mut text = format!(
                            "{}: {} files indexed ({} chunks), {} unchanged, {} removed, {} skipped",
                            folder.display(),
                            r.indexed.len(),
                            r.chunks,
                            r.unchanged,
                            r.removed.len(),
                            r.skipped.len()
                        );
                        for (file, why) in r.skipped.iter().take(20) {
                            text.push_str(&format!("\nskipped {file}: {why}"));
                        }
                        text
                    })
                    .map_err(|e| e.to_string()),
            ));
        });
    }

    fn remove(&mut self, ctx: &egui::Context, base: String, source: String) {
        self.spawn(ctx, move |parts, send| {
            let result = KnowledgeDb::open(&parts.data_dir)
                .and_then(|db| db.remove_path(&base, &source))
                .map(|n| format!("Removed {source} ({n} files) from {base}."))
                .map_err(|e| e.to_string());
            send(Reply::Indexed(result));
        });
    }

    fn search(&mut self, ctx: &egui::Context) {
        let query = self.query.trim().to_string();
        if query.is_empty() {
            return;
        }
        let bases: Vec<String> = self.bases.iter().map(|b| b.name.clone()).collect();
        self.status = None;
        self.spawn(ctx, move |parts, send| {
            let found = parts
                .retriever
                .retrieve(&bases, &query, 5)
                .map_err(|e| e.to_string());
            send(Reply::Found(found));
        });
    }

    /// Draws the page.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.drain(&ctx);
        ui.heading("Knowledge");
        if self.parts.is_none() {
            ui.weak("Knowledge bases need the data directory: start the app normally.");
            return;
        }
        if !self.listed {
            self.refresh(&ctx);
        }
        ui.weak(
            "Folders of documents (text, Markdown, code, HTML, PDF) indexed for search; agents \
             with `knowledge: [NAME]` answer from them, citing file and lines. Folders are \
             watched while the app is open.",
        );
        ui.add_space(6.0);
        ui.horizontal_wrapped(|ui| {
            let label = ui.label(FOLDER_LABEL);
            ui.add(
                egui::TextEdit::singleline(&mut self.folder)
                    .hint_text("/path/to/documents")
                    .desired_width(320.0),
            )
            .labelled_by(label.id);
            let label = ui.label(BASE_LABEL);
            ui.add(egui::TextEdit::singleline(&mut self.base).desired_width(120.0))
                .labelled_by(label.id);
            let ready = self.indexing.is_none() && !self.folder.trim().is_empty();
            if ui
                .add_enabled(ready, egui::Button::new(ADD_LABEL))
                .clicked()
            {
                self.add(&ctx);
            }
        });
        if let Some(done) = self.indexing {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Indexing… {done} files"));
            });
        }
        if let Some((text, failed)) = &self.status {
            let colour = if *failed {
                ui.visuals().error_fg_color
            } else {
                ui.visuals().weak_text_color()
            };
            ui.colored_label(colour, text);
        }
        ui.separator();
        if self.bases.is_empty() {
            ui.weak("No knowledge base yet: add a folder above.");
        }
        let mut remove = None;
        for b in &self.bases {
            ui.label(
                RichText::new(format!(
                    "{} · {} files · {} chunks · embeddings: {}",
                    b.name, b.files, b.chunks, b.embedding_model
                ))
                .strong(),
            );
            for source in &b.sources {
                ui.horizontal(|ui| {
                    ui.monospace(source);
                    if ui
                        .small_button("Remove")
                        .on_hover_text("Remove this folder and its files from the base")
                        .clicked()
                    {
                        remove = Some((b.name.clone(), source.clone()));
                    }
                });
            }
        }
        if let Some((base, source)) = remove {
            self.remove(&ctx, base, source);
        }
        ui.separator();
        let label = ui.label(QUERY_LABEL);
        let response = ui
            .add(
                egui::TextEdit::singleline(&mut self.query)
                    .hint_text("Ask something your documents answer")
                    .desired_width(420.0),
            )
            .labelled_by(label.id);
        let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Search").clicked() || enter) && !self.bases.is_empty() {
            self.search(&ctx);
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (i, hit) in self.hits.iter().enumerate() {
                ui.label(
                    RichText::new(format!(
                        "[{}] {}:{}-{} ({:.2})",
                        i + 1,
                        hit.path,
                        hit.lines[0],
                        hit.lines[1],
                        hit.score
                    ))
                    .strong(),
                );
                let shown: String = hit.text.chars().take(600).collect();
                ui.add(egui::Label::new(RichText::new(shown).small()).wrap());
                ui.add_space(4.0);
            }
        });
    }
}
