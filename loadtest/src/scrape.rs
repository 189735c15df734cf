//! keel's `/metrics` (Prometheus text format) read at every phase edge: the
//! counters the report differences, `keel_db_queries_total` by `op` and
//! `keel_cache_requests_total` by `result`.

use std::collections::BTreeMap;

use serde::Serialize;

pub const DB_QUERIES: &str = "keel_db_queries_total";
pub const CACHE_REQUESTS: &str = "keel_cache_requests_total";

/// Store operations that read rendered pages: the only queries a reader
/// can cause (a cache miss, or a revalidation past a page's lifetime). The
/// others come from keel's own timers (the scheduler, the event poll,
/// readiness pings) or from editor writes.
pub const READER_OPS: &[&str] = &["page", "pages", "page_paths"];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeelCounters {
    pub db_queries_by_op: BTreeMap<String, u64>,
    pub cache_requests_by_result: BTreeMap<String, u64>,
}

impl KeelCounters {
    pub fn db_queries(&self) -> u64 {
        self.db_queries_by_op.values().sum()
    }

    pub fn reader_db_queries(&self) -> u64 {
        READER_OPS
            .iter()
            .filter_map(|op| self.db_queries_by_op.get(*op))
            .sum()
    }

    pub fn cache_requests(&self) -> u64 {
        self.cache_requests_by_result.values().sum()
    }

    /// What happened between `earlier` and `self` (counters only grow; a
    /// restarted server would make them drop, which saturates to 0).
    pub fn since(&self, earlier: &KeelCounters) -> KeelCounters {
        let diff = |now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>| {
            now.iter()
                .map(|(k, v)| (k.clone(), v.saturating_sub(*then.get(k).unwrap_or(&0))))
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        KeelCounters {
            db_queries_by_op: diff(&self.db_queries_by_op, &earlier.db_queries_by_op),
            cache_requests_by_result: diff(
                &self.cache_requests_by_result,
                &earlier.cache_requests_by_result,
            ),
        }
    }
}

/// Parses the exposition text; lines it does not need are skipped, a
/// malformed sample of a needed metric is an error naming the line.
pub fn parse(text: &str) -> Result<KeelCounters, String> {
    let mut out = KeelCounters::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = match sample(line) {
            Some(s) => s,
            None => continue,
        };
        let (target, label) = match name {
            DB_QUERIES => (&mut out.db_queries_by_op, "op"),
            CACHE_REQUESTS => (&mut out.cache_requests_by_result, "result"),
            _ => continue,
        };
        let value: f64 = value
            .parse()
            .map_err(|_| format!("/metrics line {}: bad value in {line:?}", n + 1))?;
        let key = label_value(labels, label).unwrap_or_default();
        *target.entry(key).or_default() += value as u64;
    }
    Ok(out)
}

/// `name{labels} value [timestamp]` -> (name, labels, value).
fn sample(line: &str) -> Option<(&str, &str, &str)> {
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}')?;
            (&line[..open], &line[open + 1..close], &line[close + 1..])
        }
        None => {
            let sp = line.find(' ')?;
            (&line[..sp], "", &line[sp..])
        }
    };
    let value = rest.split_whitespace().next()?;
    Some((name.trim(), labels, value))
}

/// The value of `key` in `a="x",b="y"` (escapes as Prometheus writes them).
fn label_value(labels: &str, key: &str) -> Option<String> {
    let mut rest = labels;
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().trim_start_matches(',').trim();
        let after = rest[eq + 1..].strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => return None,
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end?;
        if name == key {
            return Some(value);
        }
        rest = &after[end + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP keel_cache_requests_total Page cache lookups by result
# TYPE keel_cache_requests_total counter
keel_cache_requests_total{result="hit"} 1200
keel_cache_requests_total{result="miss"} 7
keel_cache_requests_total{result="negative"} 30
# HELP keel_db_queries_total Queries sent to the store, by operation
# TYPE keel_db_queries_total counter
keel_db_queries_total{op="due_scheduled"} 12
keel_db_queries_total{op="page"} 7
keel_db_queries_total{op="write"} 2
keel_db_query_duration_seconds_bucket{op="page",le="0.001"} 7
keel_http_requests_total{route="page",status="200"} 1207
keel_event_seq 42
"#;

    #[test]
    fn counters_are_read_by_label_and_summed() {
        let c = parse(TEXT).unwrap();
        assert_eq!(c.db_queries(), 21);
        assert_eq!(c.reader_db_queries(), 7);
        assert_eq!(c.db_queries_by_op["due_scheduled"], 12);
        assert_eq!(c.cache_requests(), 1237);
        assert_eq!(c.cache_requests_by_result["negative"], 30);
        // The histogram of query durations is not mistaken for the counter.
        assert_eq!(c.db_queries_by_op.len(), 3);
    }

    #[test]
    fn a_phase_sees_the_difference_of_two_scrapes() {
        let before = parse(TEXT).unwrap();
        let after = parse(
            &TEXT
                .replace("} 1200", "} 5200")
                .replace("\"page\"} 7", "\"page\"} 9"),
        )
        .unwrap();
        let d = after.since(&before);
        assert_eq!(d.cache_requests_by_result["hit"], 4000);
        assert_eq!(d.reader_db_queries(), 2);
        assert_eq!(d.db_queries(), 2);
        assert!(!d.cache_requests_by_result.contains_key("miss"));
    }

    #[test]
    fn labels_with_escapes_and_several_pairs_are_read() {
        assert_eq!(
            label_value(r#"a="x,y",op="p\"q""#, "op").as_deref(),
            Some("p\"q")
        );
        assert_eq!(label_value(r#"a="1""#, "op"), None);
        let c = parse("keel_db_queries_total{node=\"a\",op=\"page\"} 3 1700000000\n").unwrap();
        assert_eq!(c.db_queries_by_op["page"], 3);
    }

    #[test]
    fn a_malformed_value_is_an_error_naming_the_line() {
        let e = parse("\nkeel_db_queries_total{op=\"page\"} many\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
