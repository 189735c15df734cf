//! `spike.svg`: offered and achieved rate (top) and latency percentiles on
//! a log scale (bottom), per second, with the phases shaded and named.
//! Plain SVG by string formatting: no fonts to embed, readable in any
//! browser and diffable as text.

use std::fmt::Write as _;

use crate::report::Report;

const W: f64 = 960.0;
const H: f64 = 600.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const PLOT_W: f64 = W - LEFT - RIGHT;
/// (top, height) of each panel.
const RATE: (f64, f64) = (50.0, 220.0);
const LAT: (f64, f64) = (320.0, 220.0);

pub fn render(r: &Report) -> String {
    let total: f64 = r
        .profile
        .phases
        .iter()
        .map(|p| p.duration.as_secs_f64())
        .sum::<f64>()
        .max(1.0);
    let x = |t: f64| LEFT + t / total * PLOT_W;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">keel spike: {}</text>"#,
        escape(&r.target)
    );

    // Phases, shaded in both panels.
    let mut at = 0.0;
    for (i, p) in r.profile.phases.iter().enumerate() {
        let d = p.duration.as_secs_f64();
        let fill = if r.phases.get(i).is_some_and(|p| p.spike) {
            "#fde8d0"
        } else if i % 2 == 0 {
            "#eef2f7"
        } else {
            "#e2e8f0"
        };
        for (top, h) in [RATE, LAT] {
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{top}" width="{:.1}" height="{h}" fill="{fill}"/>"#,
                x(at),
                x(at + d) - x(at)
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#444">{}</text>"##,
            (x(at) + x(at + d)) / 2.0,
            RATE.0 - 6.0,
            escape(&p.name)
        );
        at += d;
    }

    // Rate panel, linear.
    let peak = r
        .timeline
        .iter()
        .map(|p| p.offered.max(p.achieved))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let rate_max = nice_ceiling(peak * 1.1);
    let y_rate = |v: f64| RATE.0 + RATE.1 - v / rate_max * RATE.1;
    for i in 0..=4 {
        let v = rate_max * i as f64 / 4.0;
        grid(&mut s, y_rate(v), &format!("{v:.0}"));
    }
    axis_label(&mut s, RATE, "requests/s");
    let series = |pick: &dyn Fn(&crate::report::Point) -> Option<f64>, y: &dyn Fn(f64) -> f64| {
        path(
            r.timeline
                .iter()
                .filter_map(|p| pick(p).map(|v| (x(p.t as f64 + 0.5), y(v)))),
        )
    };
    let _ = writeln!(
        s,
        r##"<path d="{}" fill="none" stroke="#94a3b8" stroke-width="3"/>"##,
        series(&|p| Some(p.offered as f64), &y_rate)
    );
    let _ = writeln!(
        s,
        r##"<path d="{}" fill="none" stroke="#1d4ed8" stroke-width="1.5"/>"##,
        series(&|p| Some(p.achieved as f64), &y_rate)
    );
    for p in r.timeline.iter().filter(|p| p.errors > 0) {
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#dc2626"/>"##,
            x(p.t as f64),
            y_rate(p.errors as f64),
            (x(1.0) - x(0.0)).max(1.0),
            RATE.0 + RATE.1 - y_rate(p.errors as f64)
        );
    }
    legend(
        &mut s,
        RATE.0 + 14.0,
        &[
            ("#94a3b8", "offered"),
            ("#1d4ed8", "achieved"),
            ("#dc2626", "errors"),
        ],
    );

    // Latency panel, log10 from 0.1 ms up.
    let worst = r
        .timeline
        .iter()
        .filter_map(|p| p.p99_ms)
        .fold(1.0, f64::max);
    let (lo, hi) = (-1.0f64, worst.log10().ceil().max(1.0));
    let y_lat = |v: f64| {
        let l = v.max(0.1).log10();
        LAT.0 + LAT.1 - (l - lo) / (hi - lo) * LAT.1
    };
    let mut e = lo;
    while e <= hi {
        let v = 10f64.powf(e);
        grid(&mut s, y_lat(v), &format_ms(v));
        e += 1.0;
    }
    axis_label(&mut s, LAT, "latency ms (log)");
    for (pick, colour) in [(0usize, "#16a34a"), (1, "#ca8a04"), (2, "#dc2626")] {
        let d = series(
            &|p| match pick {
                0 => p.p50_ms,
                1 => p.p90_ms,
                _ => p.p99_ms,
            },
            &y_lat,
        );
        let _ = writeln!(
            s,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#
        );
    }
    legend(
        &mut s,
        LAT.0 + 14.0,
        &[("#16a34a", "p50"), ("#ca8a04", "p90"), ("#dc2626", "p99")],
    );

    // Time axis.
    let step = nice_ceiling(total / 10.0).max(1.0);
    let mut t = 0.0;
    while t <= total + 1e-9 {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#444">{t:.0}s</text>"##,
            x(t),
            LAT.0 + LAT.1 + 16.0
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#444">time from start; latency from each request's intended send time</text>"##,
        LEFT + PLOT_W / 2.0,
        H - 12.0
    );
    s.push_str("</svg>\n");
    s
}

fn grid(s: &mut String, y: f64, label: &str) {
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#cbd5e1" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{label}</text>"##,
        LEFT + PLOT_W,
        LEFT - 6.0,
        y + 4.0
    );
}

fn axis_label(s: &mut String, (top, h): (f64, f64), text: &str) {
    let (cx, cy) = (16.0, top + h / 2.0);
    let _ = writeln!(
        s,
        r##"<text x="{cx}" y="{cy}" transform="rotate(-90 {cx} {cy})" text-anchor="middle" fill="#222">{text}</text>"##
    );
}

fn legend(s: &mut String, y: f64, items: &[(&str, &str)]) {
    let mut x = LEFT + 10.0;
    for (colour, name) in items {
        let _ = writeln!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="14" height="4" fill="{colour}"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            y - 4.0,
            x + 18.0,
            y + 1.0
        );
        x += 30.0 + 8.0 * name.len() as f64;
    }
}

fn path(points: impl Iterator<Item = (f64, f64)>) -> String {
    let mut d = String::new();
    for (i, (x, y)) in points.enumerate() {
        let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
    }
    d.trim_end().to_string()
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn format_ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(2200.0), 5000.0);
        assert_eq!(nice_ceiling(330.0), 500.0);
        assert_eq!(nice_ceiling(3.3), 5.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }

    #[test]
    fn paths_start_with_a_move() {
        assert_eq!(
            path([(1.0, 2.0), (3.0, 4.0)].into_iter()),
            "M1.0,2.0 L3.0,4.0"
        );
    }
}
