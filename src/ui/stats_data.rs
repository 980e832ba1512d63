//! Data for the Events and Stats pages, read off the UI thread: pages of stored events, usage
//! snapshots, the app's own process figures (from `/proc/self` on Linux), and the JSON Lines
//! export. Results come back through a channel and wake the window.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::budget::{day_start_ms, month_start_ms};
use crate::store::{
    self, AnswerTiming, ConversationUsage, DAY_MS, DailyModelUsage, StoreReader, StoredEvent,
    ToolCallCount, UsageTotals,
};
use crate::ui::events_panel::EventPayload;
use crate::ui::link::Background;

/// The time range the Stats page shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatsRange {
    /// Since the start of the UTC day.
    Day,
    /// The last 7 UTC days, today included.
    Week,
    /// The last 30 UTC days, today included.
    #[default]
    Month,
    /// Everything stored.
    All,
}

impl StatsRange {
    /// Every range, in the order shown.
    pub const ALL: [StatsRange; 4] = [Self::Day, Self::Week, Self::Month, Self::All];

    /// The name shown.
    pub fn label(self) -> &'static str {
        match self {
            Self::Day => "Day",
            Self::Week => "Week",
            Self::Month => "Month",
            Self::All => "All",
        }
    }

    /// Where the range starts, unix ms (`None`: the beginning).
    pub fn since_ms(self, now_ms: i64) -> Option<i64> {
        let today = day_start_ms(now_ms);
        match self {
            Self::Day => Some(today),
            Self::Week => Some(today - 6 * DAY_MS),
            Self::Month => Some(today - 29 * DAY_MS),
            Self::All => None,
        }
    }
}

/// Everything the Stats page draws from the store, for one range.
#[derive(Debug, Clone, Default)]
pub struct StatsSnapshot {
    /// The range it was read for.
    pub range: StatsRange,
    /// Since the start of the UTC day.
    pub today: UsageTotals,
    /// Since the start of the UTC month.
    pub month: UsageTotals,
    /// Over all time.
    pub all: UsageTotals,
    /// Within the range, per model.
    pub in_range: UsageTotals,
    /// Within the range, per day and model.
    pub by_day: Vec<DailyModelUsage>,
    /// Within the range, the most expensive conversations.
    pub by_conversation: Vec<ConversationUsage>,
    /// Within the range, stored answers' timings.
    pub timings: Vec<AnswerTiming>,
    /// Within the range, tool calls by tool and outcome.
    pub tools: Vec<ToolCallCount>,
    /// The selected conversation's stored state changes, oldest first.
    pub timeline: Vec<StoredEvent>,
    /// Summaries stored by compaction, over all time.
    pub compactions: u64,
}

/// The app's own resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// CPU time used so far (user + system), seconds.
    pub cpu_secs: f64,
}

/// A result for the panels.
#[derive(Debug)]
pub enum PanelUpdate {
    /// A page of stored events, newest first; `before_id` is what was asked.
    EventPage {
        /// The rows.
        rows: Vec<StoredEvent>,
        /// Whether a full page came (more may be stored).
        more: bool,
    },
    /// Usage figures.
    Stats(Box<StatsSnapshot>),
    /// Process figures.
    Process(ProcessStats),
    /// Where the export was written, and how many rows.
    Exported(Result<(PathBuf, usize), String>),
    /// Reading failed (the sentence to show).
    Failed(String),
}

/// Reads the store and `/proc` on the async runtime and writes exports there.
pub struct PanelData {
    store: StoreReader,
    results: Background<PanelUpdate>,
}

impl PanelData {
    /// Reads from `store` with tasks on `runtime`.
    pub fn new(store: impl Into<StoreReader>, runtime: tokio::runtime::Handle) -> Self {
        Self {
            store: store.into(),
            results: Background::new(runtime),
        }
    }

    /// Lets results wake the window.
    pub fn attach(&self, ctx: &egui::Context) {
        self.results.attach(ctx);
    }

    /// The next result, if one is ready.
    pub fn try_recv(&self) -> Option<PanelUpdate> {
        self.results.try_recv()
    }

    /// Asks for stored events older than `before_id` that happened before `until_ms`.
    pub fn request_events(&self, until_ms: i64, before_id: Option<i64>, limit: u32) {
        self.spawn(move |s| {
            let rows = s.events_page(None, Some(until_ms), before_id, limit)?;
            let more = rows.len() == limit as usize;
            Ok(PanelUpdate::EventPage { rows, more })
        });
    }

    /// Asks for the usage figures of `range` (and the state changes of `conversation`).
    pub fn request_stats(&self, range: StatsRange, now_ms: i64, conversation: Option<String>) {
        self.spawn(move |s| {
            let since = range.since_ms(now_ms);
            let snapshot = StatsSnapshot {
                range,
                today: s.usage_totals(Some(day_start_ms(now_ms)))?,
                month: s.usage_totals(Some(month_start_ms(now_ms)))?,
                all: s.usage_totals(None)?,
                in_range: s.usage_totals(since)?,
                by_day: s.usage_by_day(since)?,
                by_conversation: s.usage_by_conversation(since, 15)?,
                timings: s.answer_timings(since, 5_000)?,
                tools: s.tool_call_counts(since)?,
                compactions: s.summary_count()?,
                timeline: match conversation {
                    Some(c) => s.conversation_events(&c, "state", 2_000)?,
                    None => Vec::new(),
                },
            };
            Ok(PanelUpdate::Stats(Box::new(snapshot)))
        });
    }

    /// Asks for the process figures.
    pub fn request_process(&self) {
        let report = self.results.reporter();
        self.results
            .runtime()
            .spawn_blocking(move || report.send(PanelUpdate::Process(read_process())));
    }

    /// Writes `rows` as JSON Lines to `exports/events-<time>.jsonl` in the data directory.
    pub fn export(&self, rows: Vec<Arc<EventPayload>>, stamp_ms: i64) {
        let (store, report) = (self.store.clone(), self.results.reporter());
        self.results.runtime().spawn(async move {
            let result = match store.read(|s| s.path().to_path_buf()).await {
                Ok(db) => {
                    let dir = db.parent().unwrap_or(Path::new(".")).join("exports");
                    tokio::task::spawn_blocking(move || write_jsonl(&dir, &rows, stamp_ms))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()))
                }
                Err(e) => Err(e.to_string()),
            };
            report.send(PanelUpdate::Exported(result));
        });
    }

    fn spawn(&self, f: impl FnOnce(&store::Store) -> store::Result<PanelUpdate> + Send + 'static) {
        self.results.read_store(&self.store, f, |e| {
            PanelUpdate::Failed(format!("Could not read the store: {e}"))
        });
    }
}

/// Writes one JSON object per line; returns the file and the number of rows.
pub fn write_jsonl(
    dir: &Path,
    rows: &[Arc<EventPayload>],
    stamp_ms: i64,
) -> Result<(PathBuf, usize), String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stamp = chrono::DateTime::from_timestamp_millis(stamp_ms)
        .map(|t| t.format("%Y%m%d-%H%M%S%.3f").to_string())
        .unwrap_or_else(|| stamp_ms.to_string());
    let path = dir.join(format!("events-{stamp}.jsonl"));
    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for row in rows {
        writeln!(out, "{}", row.json()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    out.flush()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, rows.len()))
}

/// Reads this process's memory and CPU time from `/proc/self` (zeros elsewhere).
pub fn read_process() -> ProcessStats {
    let ticks = clock_ticks();
    let cpu_ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) in parentheses.
            let rest = &s[s.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    ProcessStats {
        rss_bytes: crate::core::process::resident_bytes().unwrap_or(0),
        cpu_secs: cpu_ticks as f64 / ticks,
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_start_at_utc_day_boundaries() {
        let now = 20_000 * DAY_MS + 5_000;
        assert_eq!(StatsRange::Day.since_ms(now), Some(20_000 * DAY_MS));
        assert_eq!(StatsRange::Week.since_ms(now), Some(19_994 * DAY_MS));
        assert_eq!(StatsRange::All.since_ms(now), None);
    }

    #[test]
    fn process_figures_are_read_on_linux() {
        let p = read_process();
        if cfg!(target_os = "linux") {
            assert!(p.rss_bytes > 0);
        }
    }

    #[test]
    fn export_writes_one_line_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            Arc::new(EventPayload::Raw("{\"type\":\"a\"}".into())),
            Arc::new(EventPayload::Raw("{\"type\":\"b\"}".into())),
        ];
        let (path, n) = write_jsonl(dir.path(), &rows, 0).unwrap();
        assert_eq!(n, 2);
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(text, "{\"type\":\"a\"}\n{\"type\":\"b\"}\n");
    }
}
