//! The report: per phase, what was offered and achieved, latency
//! percentiles, errors by kind, bytes, the `Cache-Status` hit ratio, keel's
//! query and cache counters (and PostgreSQL's) over the phase; the goals
//! checked against it; and its renderings (a terminal table, `report.md`,
//! `report.json`; the chart is in [`crate::svg`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use crate::pgstats::PgSnapshot;
use crate::profile::Profile;
use crate::run::Outcomes;
use crate::scrape::{KeelCounters, READER_OPS};
use crate::stats::PhaseStats;

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    /// Milliseconds from a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Latency {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KeelPhase {
    pub db_queries: u64,
    pub db_queries_by_op: BTreeMap<String, u64>,
    /// Queries of the page-reading ops ([`READER_OPS`]): what readers cost.
    pub reader_db_queries: u64,
    pub reader_db_queries_per_1k_requests: f64,
    pub cache_requests: u64,
    pub cache_requests_by_result: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgPhase {
    pub transactions: i64,
    #[serde(flatten)]
    pub counters: PgSnapshot,
}

#[derive(Debug, Clone, Serialize)]
pub struct EditorPhase {
    pub sent: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub latency_ms: Option<Latency>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub name: String,
    /// Reaches the profile's peak rate.
    pub spike: bool,
    pub from_rps: f64,
    pub to_rps: f64,
    pub duration_s: f64,
    /// Rises linearly from `from_rps` to `to_rps`.
    pub ramp: bool,
    /// Requests the profile intends over the phase.
    pub intended: f64,
    pub offered_rps: f64,
    pub achieved_rps: f64,
    pub scheduled: u64,
    pub completed: u64,
    pub latency_ms: Option<Latency>,
    /// How late the generator sent, p99: if large, the client was the limit.
    pub send_lag_p99_ms: f64,
    pub statuses: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub error_count: u64,
    pub error_rate: f64,
    pub bytes: u64,
    pub cache_status: BTreeMap<String, u64>,
    pub hit_ratio: Option<f64>,
    pub conditional_sent: u64,
    pub unknown_sent: u64,
    pub keel: Option<KeelPhase>,
    pub postgres: Option<PgPhase>,
    pub editor: Option<EditorPhase>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub t: u64,
    pub offered: u64,
    pub achieved: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Goals {
    pub max_p99_ms: f64,
    pub max_error_rate: f64,
    /// Applies to the spike phases.
    pub max_db_queries_per_1k_requests: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub goal: String,
    pub phase: String,
    pub limit: f64,
    pub actual: Option<f64>,
    pub passed: bool,
}

impl Check {
    pub fn describe(&self) -> String {
        match self.actual {
            Some(a) if self.passed => format!(
                "{} in {}: {} <= {}",
                self.goal,
                self.phase,
                num(a),
                num(self.limit)
            ),
            Some(a) => format!(
                "{} in {}: {} > {} (over by {})",
                self.goal,
                self.phase,
                num(a),
                num(self.limit),
                num(a - self.limit)
            ),
            None => format!("{} in {}: not measured", self.goal, self.phase),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub started_at: String,
    pub profile: Profile,
    pub settings: Value,
    pub site: Value,
    pub seed: Option<Value>,
    pub prewarm: Value,
    pub phases: Vec<PhaseReport>,
    pub timeline: Vec<Point>,
    pub goals: Goals,
    pub checks: Vec<Check>,
    pub passed: bool,
    pub notes: Vec<String>,
}

/// Everything the report is made from besides the measurements.
pub struct Context {
    pub target: String,
    pub started_at: String,
    pub settings: Value,
    pub site: Value,
    pub seed: Option<Value>,
    pub prewarm: Value,
    pub goals: Goals,
    pub notes: Vec<String>,
}

pub fn build(profile: &Profile, out: &Outcomes, ctx: Context) -> Report {
    let phases: Vec<PhaseReport> = profile
        .phases
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let s = &out.recorder.phases[i];
            let keel = match (
                &out.edges[i].keel,
                out.edges.get(i + 1).and_then(|e| e.keel.as_ref()),
            ) {
                (Some(a), Some(b)) => Some(keel_phase(&b.since(a), s)),
                _ => None,
            };
            let postgres = match (
                &out.edges[i].pg,
                out.edges.get(i + 1).and_then(|e| e.pg.as_ref()),
            ) {
                (Some(a), Some(b)) => {
                    let d = b.since(a);
                    Some(PgPhase {
                        transactions: d.transactions(),
                        counters: d,
                    })
                }
                _ => None,
            };
            let editor = out
                .live
                .as_ref()
                .and_then(|l| l.phases.get(&i))
                .map(|e| EditorPhase {
                    sent: e.sent,
                    ok: e.ok,
                    errors: e.errors.clone(),
                    latency_ms: Latency::of(&e.latency),
                });
            phase_report(profile, i, s, keel, postgres, editor)
        })
        .collect();
    let timeline = out
        .recorder
        .seconds
        .iter()
        .enumerate()
        .take(profile.total_duration().as_secs_f64().ceil() as usize)
        .map(|(t, s)| {
            let q = |x: f64| {
                (!s.latency.is_empty()).then(|| s.latency.value_at_quantile(x) as f64 / 1000.0)
            };
            Point {
                t: t as u64,
                offered: s.scheduled,
                achieved: s.completed,
                errors: s.errors,
                p50_ms: q(0.5),
                p90_ms: q(0.9),
                p99_ms: q(0.99),
            }
        })
        .collect();
    let checks = check(&phases, &ctx.goals);
    let passed = checks.iter().all(|c| c.passed);
    let mut notes = ctx.notes;
    notes.extend(out.scrape_errors.iter().map(|e| format!("metrics: {e}")));
    Report {
        target: ctx.target,
        started_at: ctx.started_at,
        profile: profile.clone(),
        settings: ctx.settings,
        site: ctx.site,
        seed: ctx.seed,
        prewarm: ctx.prewarm,
        phases,
        timeline,
        goals: ctx.goals,
        checks,
        passed,
        notes,
    }
}

fn keel_phase(d: &KeelCounters, s: &PhaseStats) -> KeelPhase {
    let reader = d.reader_db_queries();
    KeelPhase {
        db_queries: d.db_queries(),
        db_queries_by_op: d.db_queries_by_op.clone(),
        reader_db_queries: reader,
        reader_db_queries_per_1k_requests: if s.completed == 0 {
            0.0
        } else {
            reader as f64 * 1000.0 / s.completed as f64
        },
        cache_requests: d.cache_requests(),
        cache_requests_by_result: d.cache_requests_by_result.clone(),
    }
}

fn phase_report(
    profile: &Profile,
    i: usize,
    s: &PhaseStats,
    keel: Option<KeelPhase>,
    postgres: Option<PgPhase>,
    editor: Option<EditorPhase>,
) -> PhaseReport {
    let p = &profile.phases[i];
    let secs = p.duration.as_secs_f64();
    let errors = s.error_count();
    PhaseReport {
        name: p.name.clone(),
        spike: profile.is_spike(i),
        from_rps: p.from_rps,
        to_rps: p.to_rps,
        duration_s: secs,
        ramp: p.is_ramp(),
        intended: p.expected_requests(),
        offered_rps: s.scheduled as f64 / secs,
        achieved_rps: s.completed as f64 / secs,
        scheduled: s.scheduled,
        completed: s.completed,
        latency_ms: Latency::of(&s.latency),
        send_lag_p99_ms: if s.send_lag.is_empty() {
            0.0
        } else {
            s.send_lag.value_at_quantile(0.99) as f64 / 1000.0
        },
        statuses: s
            .statuses
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        errors: s.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        error_count: errors,
        error_rate: if s.scheduled == 0 {
            0.0
        } else {
            errors as f64 / s.scheduled as f64
        },
        bytes: s.bytes,
        cache_status: s.cache.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        hit_ratio: s.hit_ratio(),
        conditional_sent: s.conditional_sent,
        unknown_sent: s.unknown_sent,
        keel,
        postgres,
        editor,
    }
}

/// Every goal, every phase it applies to: p99 and error rate everywhere,
/// the database-query budget in the spike phases.
pub fn check(phases: &[PhaseReport], goals: &Goals) -> Vec<Check> {
    let mut out = Vec::new();
    for p in phases {
        let p99 = p.latency_ms.as_ref().map(|l| l.p99);
        out.push(Check {
            goal: "p99 latency (ms)".into(),
            phase: p.name.clone(),
            limit: goals.max_p99_ms,
            actual: p99,
            passed: p99.is_some_and(|v| v <= goals.max_p99_ms),
        });
        out.push(Check {
            goal: "error rate".into(),
            phase: p.name.clone(),
            limit: goals.max_error_rate,
            actual: Some(p.error_rate),
            passed: p.error_rate <= goals.max_error_rate,
        });
        if p.spike {
            let q = p.keel.as_ref().map(|k| k.reader_db_queries_per_1k_requests);
            out.push(Check {
                goal: "db queries per 1k requests".into(),
                phase: p.name.clone(),
                limit: goals.max_db_queries_per_1k_requests,
                actual: q,
                passed: q.is_some_and(|v| v <= goals.max_db_queries_per_1k_requests),
            });
        }
    }
    out
}

fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

const COLUMNS: [&str; 15] = [
    "phase",
    "offered/s",
    "achieved/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "errors",
    "err %",
    "MB",
    "hit %",
    "db q",
    "db q/1k",
    "cache req",
];

fn rows(r: &Report) -> Vec<[String; 15]> {
    r.phases
        .iter()
        .map(|p| {
            let l = p.latency_ms.as_ref();
            let ms = |f: fn(&Latency) -> f64| opt(l.map(f), |v| format!("{v:.2}"));
            let keel = p.keel.as_ref();
            [
                if p.spike {
                    format!("{}*", p.name)
                } else {
                    p.name.clone()
                },
                format!("{:.1}", p.offered_rps),
                format!("{:.1}", p.achieved_rps),
                ms(|l| l.p50),
                ms(|l| l.p90),
                ms(|l| l.p99),
                ms(|l| l.p999),
                ms(|l| l.max),
                p.error_count.to_string(),
                format!("{:.3}", p.error_rate * 100.0),
                format!("{:.1}", p.bytes as f64 / 1e6),
                opt(p.hit_ratio, |h| format!("{:.2}", h * 100.0)),
                opt(keel.map(|k| k.db_queries as f64), |v| format!("{v:.0}")),
                opt(keel.map(|k| k.reader_db_queries_per_1k_requests), |v| {
                    format!("{v:.3}")
                }),
                opt(keel.map(|k| k.cache_requests as f64), |v| format!("{v:.0}")),
            ]
        })
        .collect()
}

/// The terminal table, then per-phase details and the goals.
pub fn table(r: &Report) -> String {
    let rows = rows(r);
    let mut widths: Vec<usize> = COLUMNS.iter().map(|c| c.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut s = String::new();
    let line = |cells: &[String], s: &mut String| {
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, "  {cell:>w$}");
            }
        }
        s.push('\n');
    };
    line(&COLUMNS.map(String::from), &mut s);
    for row in &rows {
        line(row, &mut s);
    }
    let _ = writeln!(
        s,
        "* spike phase. db q: all keel_db_queries_total; db q/1k: page reads ({}) per 1000 responses.",
        READER_OPS.join(", ")
    );
    s.push_str(&details(r, false));
    s
}

fn details(r: &Report, md: bool) -> String {
    let mut s = String::new();
    let bullet = if md { "- " } else { "  " };
    for p in &r.phases {
        let _ = writeln!(s, "{}{}:", if md { "\n**" } else { "" }, p.name);
        if md {
            s.truncate(s.len() - 2);
            s.push_str("**\n\n");
        }
        let kv = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_string()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let _ = writeln!(
            s,
            "{bullet}statuses: {}; errors: {}",
            kv(&p.statuses),
            kv(&p.errors)
        );
        let _ = writeln!(
            s,
            "{bullet}Cache-Status: {}; conditional sent: {}; unknown paths sent: {}; generator send lag p99: {:.2} ms",
            kv(&p.cache_status),
            p.conditional_sent,
            p.unknown_sent,
            p.send_lag_p99_ms
        );
        if let Some(k) = &p.keel {
            let _ = writeln!(
                s,
                "{bullet}keel: db queries by op: {}; cache requests: {}",
                kv(&k.db_queries_by_op),
                kv(&k.cache_requests_by_result)
            );
            if k.reader_db_queries > 0 {
                let result = |r: &str| k.cache_requests_by_result.get(r).copied().unwrap_or(0);
                let _ = writeln!(
                    s,
                    "{bullet}page reads: {} with {} cache misses and {} stale copies served \
                     (a copy past its edge max-age, or named by an event, is read again once)",
                    k.reader_db_queries,
                    result("miss"),
                    result("stale")
                );
            }
        }
        if let Some(pg) = &p.postgres {
            let c = &pg.counters;
            let _ = writeln!(
                s,
                "{bullet}PostgreSQL: transactions {} (commit {}, rollback {}), seq scans {}, index scans {}, tuples returned {}, fetched {}",
                pg.transactions,
                c.xact_commit,
                c.xact_rollback,
                c.seq_scan,
                c.idx_scan,
                c.tup_returned,
                c.tup_fetched
            );
        }
        if let Some(e) = &p.editor {
            let l = e.latency_ms.as_ref();
            let _ = writeln!(
                s,
                "{bullet}editor (score update = PATCH + publish): sent {}, ok {}, errors: {}; latency p50 {} ms, p99 {} ms, max {} ms",
                e.sent,
                e.ok,
                kv(&e.errors),
                opt(l.map(|l| l.p50), |v| format!("{v:.1}")),
                opt(l.map(|l| l.p99), |v| format!("{v:.1}")),
                opt(l.map(|l| l.max), |v| format!("{v:.1}")),
            );
        }
    }
    if md {
        s.push_str("\n## Goals\n\n");
    } else {
        s.push_str("goals:\n");
    }
    for c in &r.checks {
        let mark = if c.passed { "ok  " } else { "MISS" };
        let _ = writeln!(s, "{bullet}{mark} {}", c.describe());
    }
    let _ = writeln!(
        s,
        "{}{}",
        if md { "\n**Result:** " } else { "result: " },
        if r.passed {
            "all goals met"
        } else {
            "GOALS MISSED"
        }
    );
    if !r.notes.is_empty() {
        s.push_str(if md { "\n## Notes\n\n" } else { "notes:\n" });
        for n in &r.notes {
            let _ = writeln!(s, "{bullet}{n}");
        }
    }
    s
}

/// `report.md`: the table as Markdown, then the same details.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# keel spike load test\n");
    let _ = writeln!(
        s,
        "Target `{}`, started {}. Profile: {}. Site: {} paths ({}).\n",
        r.target,
        r.started_at,
        r.profile
            .phases
            .iter()
            .map(|p| format!(
                "{} {:.0}→{:.0} rps for {:.0} s",
                p.name,
                p.from_rps,
                p.to_rps,
                p.duration.as_secs_f64()
            ))
            .collect::<Vec<_>>()
            .join(", "),
        r.site["paths"],
        r.site["source"].as_str().unwrap_or("")
    );
    let _ = writeln!(s, "![rate and latency over time](spike.svg)\n");
    let _ = writeln!(s, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        COLUMNS
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for row in rows(r) {
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    let _ = writeln!(
        s,
        "\n\\* spike phase. *db q*: every `keel_db_queries_total`; *db q/1k*: page reads ({}) per 1000 responses. Latency is from each request's intended send time.",
        READER_OPS.join(", ")
    );
    s.push_str(&details(r, true));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Edge;
    use crate::scrape;
    use crate::stats::{CacheStatus, Kind, Outcome, Recorder};

    fn sample(db_page_queries: u64) -> Report {
        let profile = Profile::parse("base=10rps:2s,ramp=20rps:2s").unwrap();
        let mut rec = Recorder::new(2, 4);
        for (phase, n) in [(0usize, 20u64), (1, 30)] {
            for i in 0..n {
                rec.scheduled(phase, i as usize % 4, 10, Kind::Plain);
                rec.finished(
                    phase,
                    i as usize % 4,
                    500 + i * 10,
                    &Outcome::Response {
                        status: 200,
                        bytes: 1000,
                        cache: CacheStatus::Hit,
                        error: None,
                    },
                );
            }
        }
        let scrape = |page: u64, hits: u64| Edge {
            keel: Some(
                scrape::parse(&format!(
                    "keel_db_queries_total{{op=\"page\"}} {page}\n\
                     keel_db_queries_total{{op=\"due_scheduled\"}} {hits}\n\
                     keel_cache_requests_total{{result=\"hit\"}} {hits}\n"
                ))
                .unwrap(),
            ),
            pg: None,
        };
        let out = Outcomes {
            recorder: rec,
            edges: vec![scrape(0, 0), scrape(0, 20), scrape(db_page_queries, 50)],
            live: None,
            scrape_errors: Vec::new(),
        };
        build(
            &profile,
            &out,
            Context {
                target: "http://127.0.0.1:1".into(),
                started_at: "now".into(),
                settings: Value::Null,
                site: serde_json::json!({ "paths": 3, "source": "test" }),
                seed: None,
                prewarm: Value::Null,
                goals: Goals {
                    max_p99_ms: 50.0,
                    max_error_rate: 0.001,
                    max_db_queries_per_1k_requests: 0.0,
                },
                notes: Vec::new(),
            },
        )
    }

    #[test]
    fn the_json_report_has_every_field_per_phase() {
        let r = sample(0);
        let json = serde_json::to_value(&r).unwrap();
        let ramp = &json["phases"][1];
        for field in [
            "offered_rps",
            "achieved_rps",
            "latency_ms",
            "errors",
            "error_rate",
            "bytes",
            "hit_ratio",
            "cache_status",
            "statuses",
            "keel",
        ] {
            assert!(!ramp[field].is_null(), "{field} missing: {ramp}");
        }
        for q in ["p50", "p90", "p99", "p999", "max"] {
            assert!(ramp["latency_ms"][q].as_f64().unwrap() > 0.0, "{q}");
        }
        assert_eq!(ramp["offered_rps"], 15.0);
        assert_eq!(ramp["bytes"], 30_000);
        assert_eq!(ramp["hit_ratio"], 1.0);
        assert_eq!(ramp["keel"]["cache_requests"], 30);
        assert_eq!(ramp["keel"]["db_queries"], 30);
        assert_eq!(ramp["keel"]["reader_db_queries"], 0);
        assert_eq!(ramp["spike"], true);
        assert_eq!(json["timeline"].as_array().unwrap().len(), 4);
        assert_eq!(json["passed"], true);
    }

    #[test]
    fn a_missed_goal_fails_the_report_and_says_by_how_much() {
        let r = sample(3);
        assert!(!r.passed);
        let missed: Vec<_> = r.checks.iter().filter(|c| !c.passed).collect();
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].phase, "ramp");
        // 3 page reads over 30 responses = 100 per 1000.
        assert_eq!(
            missed[0].describe(),
            "db queries per 1k requests in ramp: 100 > 0 (over by 100)"
        );
    }

    #[test]
    fn table_and_markdown_show_each_phase() {
        let r = sample(0);
        let t = table(&r);
        assert!(t.lines().next().unwrap().starts_with("phase"));
        assert!(t.contains("\nbase "), "{t}");
        assert!(t.contains("\nramp*"), "{t}");
        assert!(t.contains("all goals met"));
        let md = markdown(&r);
        assert!(md.contains("| ramp* | 15.0 | 15.0 |"), "{md}");
        assert!(md.contains("spike.svg"));
    }
}
