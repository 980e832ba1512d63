//! The Stats page: totals (today, this month, all time), budget status, and for the chosen
//! range (day, week, month, all) tokens and cost per day stacked by model, cost by model and
//! by conversation, time to first token and tokens/s per answer, tool calls by tool and
//! outcome, the selected conversation's agent-state timeline, and the app's own uptime,
//! memory and CPU. Figures come from the store off the UI thread; finished runs add live
//! points. While the page is open it refreshes every [`REFRESH`]; other pages cost nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use egui_plot::{Bar, BarChart, Legend, Line, Plot, Points};

use crate::engine::budget::BudgetLimits;
use crate::engine::{ConversationId, EngineEvent};
use crate::store::{DAY_MS, UsageTotals};
use crate::ui::stats_data::{PanelData, PanelUpdate, ProcessStats, StatsRange, StatsSnapshot};
use crate::ui::view_model::{UnixMs, now_ms};

/// How often the open page re-reads its figures.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Live points kept at most.
const LIVE_CAP: usize = 5_000;

/// The agent states, bottom to top on the timeline.
const STATES: [&str; 8] = [
    "Idle",
    "Sending",
    "Streaming",
    "AwaitingApproval",
    "RunningTool",
    "Retrying",
    "Stopping",
    "Failed",
];

/// One finished answer seen live.
#[derive(Debug, Clone, PartialEq)]
struct LiveAnswer {
    at_ms: UnixMs,
    ttft_ms: Option<u64>,
    tokens_per_sec: Option<f64>,
}

/// The Stats page.
#[derive(Debug)]
pub struct StatsPanel {
    range: StatsRange,
    snapshot: Option<StatsSnapshot>,
    in_flight: bool,
    last_request: Option<(Instant, StatsRange, Option<ConversationId>)>,
    live_answers: Vec<LiveAnswer>,
    live_states: Vec<(ConversationId, UnixMs, String)>,
    session: UsageTotals,
    started: Instant,
    process: Option<(Instant, ProcessStats)>,
    cpu_percent: Option<f64>,
    budget: BudgetLimits,
    error: Option<String>,
}

impl Default for StatsPanel {
    fn default() -> Self {
        Self {
            range: StatsRange::default(),
            snapshot: None,
            in_flight: false,
            last_request: None,
            live_answers: Vec::new(),
            live_states: Vec::new(),
            session: UsageTotals::default(),
            started: Instant::now(),
            process: None,
            cpu_percent: None,
            budget: BudgetLimits::default(),
            error: None,
        }
    }
}

impl StatsPanel {
    /// Shows spending against these limits.
    pub fn set_budget(&mut self, limits: BudgetLimits) {
        self.budget = limits;
    }

    /// The figures last read from the store.
    pub fn snapshot(&self) -> Option<&StatsSnapshot> {
        self.snapshot.as_ref()
    }

    /// Records what a live event adds (finished runs, state changes).
    pub fn push(&mut self, event: &EngineEvent, now: UnixMs) {
        match event {
            EngineEvent::Done { metrics, .. } => {
                self.session.requests += 1;
                self.session.prompt_tokens += metrics.prompt_tokens as i64;
                self.session.completion_tokens += metrics.completion_tokens as i64;
                self.session.reasoning_tokens += metrics.reasoning_tokens as i64;
                self.session.cost_usd += metrics.cost_usd.unwrap_or(0.0);
                push_capped(
                    &mut self.live_answers,
                    LiveAnswer {
                        at_ms: now,
                        ttft_ms: metrics.ttft_ms,
                        tokens_per_sec: metrics.tokens_per_sec,
                    },
                );
                // Stored totals changed: read them again on the next frame the page shows.
                self.last_request = None;
            }
            EngineEvent::State {
                conversation, to, ..
            } => push_capped(
                &mut self.live_states,
                (conversation.clone(), now, to.clone()),
            ),
            _ => {}
        }
    }

    /// Takes a result meant for this page; gives back the others.
    pub fn on_update(&mut self, update: PanelUpdate) -> Option<PanelUpdate> {
        match update {
            PanelUpdate::Stats(snapshot) => {
                self.in_flight = false;
                self.error = None;
                self.snapshot = Some(*snapshot);
                None
            }
            PanelUpdate::Process(p) => {
                let now = Instant::now();
                if let Some((then, before)) = self.process {
                    let secs = now.duration_since(then).as_secs_f64();
                    if secs > 0.2 {
                        self.cpu_percent = Some((p.cpu_secs - before.cpu_secs) / secs * 100.0);
                    }
                }
                self.process = Some((now, p));
                None
            }
            PanelUpdate::Failed(message) => {
                self.in_flight = false;
                self.error = Some(message);
                None
            }
            other => Some(other),
        }
    }

    /// Draws the page for the selected conversation; reads go through `data`.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        data: Option<&PanelData>,
        selected: Option<&ConversationId>,
    ) {
        self.refresh(ui.ctx(), data, selected);
        ui.heading("Stats");
        ui.horizontal(|ui| {
            ui.label("Range:");
            for r in StatsRange::ALL {
                ui.selectable_value(&mut self.range, r, r.label());
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e.as_str());
        }
        egui::ScrollArea::vertical()
            .id_salt("rustbot_stats")
            .auto_shrink(false)
            .show(ui, |ui| {
                self.totals_ui(ui);
                self.budget_ui(ui);
                self.process_ui(ui);
                match &self.snapshot {
                    Some(s) => {
                        per_day_ui(ui, s);
                        by_model_ui(ui, s);
                        by_conversation_ui(ui, s);
                        self.timings_ui(ui, s);
                        tools_ui(ui, s);
                    }
                    None if data.is_none() => {
                        ui.weak("Stored history is not available in this window.");
                    }
                    None => {
                        ui.weak("Reading the history…");
                    }
                }
                self.timeline_ui(ui, selected);
            });
    }

    fn refresh(
        &mut self,
        ctx: &egui::Context,
        data: Option<&PanelData>,
        selected: Option<&ConversationId>,
    ) {
        let Some(data) = data else {
            return;
        };
        ctx.request_repaint_after(REFRESH);
        let due = match &self.last_request {
            None => true,
            Some((at, range, conv)) => {
                at.elapsed() >= REFRESH || *range != self.range || conv.as_ref() != selected
            }
        };
        if due && !self.in_flight {
            self.in_flight = true;
            self.last_request = Some((Instant::now(), self.range, selected.cloned()));
            data.request_stats(self.range, now_ms(), selected.map(|c| c.0.clone()));
            data.request_process();
        }
    }

    fn totals_ui(&self, ui: &mut egui::Ui) {
        ui.add_space(6.0);
        egui::Grid::new("rustbot_stats_totals")
            .num_columns(5)
            .spacing([24.0, 4.0])
            .show(ui, |ui| {
                ui.strong("Period");
                ui.strong("Requests");
                ui.strong("Tokens");
                ui.strong("Reasoning")
                    .on_hover_text("Answer tokens the model spent thinking, when the provider reports them (part of Tokens)");
                ui.strong("Cost");
                ui.end_row();
                let mut row = |name: &str, t: &UsageTotals| {
                    ui.label(name);
                    ui.label(t.requests.to_string());
                    ui.label((t.prompt_tokens + t.completion_tokens).to_string());
                    ui.label(t.reasoning_tokens.to_string());
                    ui.label(format!("${:.4}", t.cost_usd));
                    ui.end_row();
                };
                if let Some(s) = &self.snapshot {
                    row("Today", &s.today);
                    row("This month", &s.month);
                    row("All time", &s.all);
                }
                row("This session", &self.session);
            });
        if let Some(s) = self.snapshot.as_ref().filter(|s| s.compactions > 0) {
            ui.weak(format!(
                "{} {} stored: older turns summarised to fit context windows",
                s.compactions,
                if s.compactions == 1 {
                    "compaction"
                } else {
                    "compactions"
                }
            ));
        }
    }

    fn budget_ui(&self, ui: &mut egui::Ui) {
        if !self.budget.any() {
            return;
        }
        ui.add_space(6.0);
        ui.strong("Budget");
        let (today, month) = self
            .snapshot
            .as_ref()
            .map(|s| (s.today.cost_usd, s.month.cost_usd))
            .unwrap_or_default();
        let limits = [
            ("Daily", Some(today), self.budget.daily_usd),
            ("Monthly", Some(month), self.budget.monthly_usd),
            ("Per conversation", None, self.budget.per_conversation_usd),
        ];
        for (name, spent, limit) in limits {
            let Some(limit) = limit else { continue };
            match spent {
                Some(spent) => {
                    let share = if limit > 0.0 { spent / limit } else { 1.0 };
                    ui.add(
                        egui::ProgressBar::new(share.clamp(0.0, 1.0) as f32)
                            .text(format!("{name}: ${spent:.2} of ${limit:.2}")),
                    );
                }
                None => {
                    ui.label(format!("{name}: limit ${limit:.2}"));
                }
            }
        }
    }

    fn process_ui(&self, ui: &mut egui::Ui) {
        ui.add_space(6.0);
        let uptime = self.started.elapsed().as_secs();
        let mut line = format!(
            "Uptime {}:{:02}:{:02}",
            uptime / 3600,
            uptime / 60 % 60,
            uptime % 60
        );
        if let Some((_, p)) = self.process {
            line.push_str(&format!(
                " · memory {:.1} MB · CPU time {:.1} s",
                p.rss_bytes as f64 / 1_048_576.0,
                p.cpu_secs
            ));
        }
        if let Some(cpu) = self.cpu_percent {
            line.push_str(&format!(" · CPU {cpu:.1}%"));
        }
        ui.label(line);
    }

    fn timings_ui(&self, ui: &mut egui::Ui, s: &StatsSnapshot) {
        section(ui, "Time to first token and tokens/s per answer");
        let now = now_ms();
        let hours = |at: i64| (at - now) as f64 / 3_600_000.0;
        let mut ttft: Vec<[f64; 2]> = Vec::new();
        let mut speed: Vec<[f64; 2]> = Vec::new();
        for t in &s.timings {
            if let Some(ms) = t.ttft_ms {
                ttft.push([hours(t.at), ms as f64]);
            }
            if let (Some(tokens), Some(d)) = (t.completion_tokens, t.duration_ms) {
                let streaming_ms = d - t.ttft_ms.unwrap_or(0);
                if streaming_ms > 0 {
                    speed.push([hours(t.at), tokens as f64 * 1000.0 / streaming_ms as f64]);
                }
            }
        }
        let since = s.range.since_ms(now).unwrap_or(i64::MIN);
        for a in self.live_answers.iter().filter(|a| a.at_ms >= since) {
            if let Some(ms) = a.ttft_ms {
                ttft.push([hours(a.at_ms), ms as f64]);
            }
            if let Some(tps) = a.tokens_per_sec {
                speed.push([hours(a.at_ms), tps]);
            }
        }
        ui.columns(2, |cols| {
            Plot::new("rustbot_ttft")
                .height(160.0)
                // From zero, so one answer (or a few alike) does not give an axis of 3712.001.
                .include_y(0.0)
                .include_x(0.0)
                .x_axis_label("hours from now")
                .y_axis_label("ms to first token")
                .show(&mut cols[0], |p| {
                    p.points(Points::new("time to first token", ttft).radius(3.0));
                });
            Plot::new("rustbot_tps")
                .height(160.0)
                .include_y(0.0)
                .include_x(0.0)
                .x_axis_label("hours from now")
                .y_axis_label("tokens/s")
                .show(&mut cols[1], |p| {
                    p.points(Points::new("tokens/s", speed).radius(3.0));
                });
        });
    }

    fn timeline_ui(&self, ui: &mut egui::Ui, selected: Option<&ConversationId>) {
        section(ui, "Agent states of the selected conversation");
        let Some(conv) = selected else {
            ui.weak("Select a conversation to see its state timeline.");
            return;
        };
        let mut changes: Vec<(i64, String)> = Vec::new();
        if let Some(s) = &self.snapshot {
            for e in &s.timeline {
                if let Ok(EngineEvent::State { to, .. }) = serde_json::from_str(&e.json) {
                    changes.push((e.at, to));
                }
            }
        }
        let stored_until = changes.last().map_or(i64::MIN, |c| c.0);
        changes.extend(
            self.live_states
                .iter()
                .filter(|(c, at, _)| c == conv && *at > stored_until)
                .map(|(_, at, to)| (*at, to.clone())),
        );
        if changes.is_empty() {
            ui.weak("No state changes recorded for this conversation yet.");
            return;
        }
        let t0 = changes[0].0;
        let level = |s: &str| STATES.iter().position(|n| *n == s).unwrap_or(0) as f64;
        let mut points = Vec::with_capacity(changes.len() * 2);
        for (i, (at, to)) in changes.iter().enumerate() {
            let x = (at - t0) as f64 / 1000.0;
            if i > 0 {
                points.push([x, points.last().map_or(0.0, |p: &[f64; 2]| p[1])]);
            }
            points.push([x, level(to)]);
        }
        Plot::new("rustbot_timeline")
            .height(180.0)
            .x_axis_label("seconds")
            .include_y(0.0)
            .include_y(STATES.len() as f64 - 1.0)
            .y_axis_formatter(|mark, _| {
                let i = mark.value.round();
                if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                    STATES
                        .get(i as usize)
                        .copied()
                        .unwrap_or_default()
                        .to_string()
                } else {
                    String::new()
                }
            })
            .show(ui, |p| p.line(Line::new("state", points)));
    }
}

fn push_capped<T>(v: &mut Vec<T>, item: T) {
    if v.len() >= LIVE_CAP {
        v.drain(..LIVE_CAP / 10);
    }
    v.push(item);
}

fn section(ui: &mut egui::Ui, title: &str) {
    ui.add_space(10.0);
    ui.strong(title);
}

fn per_day_ui(ui: &mut egui::Ui, s: &StatsSnapshot) {
    section(ui, "Tokens and cost per day, by model");
    let mut models: BTreeMap<&str, (Vec<Bar>, Vec<Bar>)> = BTreeMap::new();
    let today = now_ms().div_euclid(DAY_MS);
    for d in &s.by_day {
        let x = (d.day - today) as f64;
        let (tokens, cost) = models.entry(d.model.as_str()).or_default();
        tokens.push(Bar::new(x, d.tokens as f64));
        cost.push(Bar::new(x, d.cost_usd));
    }
    ui.columns(2, |cols| {
        for (col, (id, unit)) in cols.iter_mut().zip([("tokens", 0), ("cost", 1)]) {
            let mut charts: Vec<BarChart> = Vec::new();
            for (model, bars) in &models {
                let bars = if unit == 0 { &bars.0 } else { &bars.1 };
                let below: Vec<&BarChart> = charts.iter().collect();
                let chart = BarChart::new(*model, bars.clone())
                    .width(0.7)
                    .stack_on(&below);
                charts.push(chart);
            }
            Plot::new(format!("rustbot_per_day_{id}"))
                .height(180.0)
                .legend(Legend::default())
                .x_axis_label("days from today")
                .y_axis_label(if unit == 0 { "tokens" } else { "USD" })
                .show(col, |p| {
                    for c in charts {
                        p.bar_chart(c);
                    }
                });
        }
    });
}

fn by_model_ui(ui: &mut egui::Ui, s: &StatsSnapshot) {
    section(ui, "Cost by model");
    let bars: Vec<Bar> = s
        .in_range
        .by_model
        .iter()
        .enumerate()
        .map(|(i, m)| Bar::new(i as f64, m.cost_usd).name(&m.model))
        .collect();
    let names: Vec<String> = s
        .in_range
        .by_model
        .iter()
        .map(|m| m.model.clone())
        .collect();
    Plot::new("rustbot_by_model")
        .height(140.0)
        .y_axis_label("USD")
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |p| p.bar_chart(BarChart::new("cost", bars).width(0.6)));
}

fn by_conversation_ui(ui: &mut egui::Ui, s: &StatsSnapshot) {
    section(ui, "Cost by conversation");
    if s.by_conversation.is_empty() {
        ui.weak("No usage in this range.");
        return;
    }
    egui::Grid::new("rustbot_by_conversation")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            for c in &s.by_conversation {
                let name = match (&c.title, &c.conversation_id) {
                    (Some(t), _) => t.clone(),
                    (None, Some(id)) => id.clone(),
                    (None, None) => "(deleted conversations)".into(),
                };
                ui.label(name);
                ui.label(format!("{} tokens", c.tokens));
                ui.label(format!("${:.4}", c.cost_usd));
                ui.end_row();
            }
        });
}

fn tools_ui(ui: &mut egui::Ui, s: &StatsSnapshot) {
    section(ui, "Tool calls by tool and outcome");
    if s.tools.is_empty() {
        ui.weak("No tool calls in this range.");
        return;
    }
    egui::Grid::new("rustbot_tools")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            for t in &s.tools {
                ui.label(&t.name);
                ui.label(&t.status);
                ui.label(t.count.to_string());
                ui.end_row();
            }
        });
}
