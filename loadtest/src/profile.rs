//! The load profile: named phases, each with a target arrival rate and a
//! duration, and the open-model schedule derived from it (the intended send
//! time of every request). A phase whose name starts with `ramp` rises
//! linearly from the previous phase's rate (0 for the first phase) to its
//! own; any other phase holds its rate. Nothing here touches the network.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    pub name: String,
    /// Arrival rate at the phase's start, requests per second.
    pub from_rps: f64,
    /// Arrival rate at the phase's end (equal to `from_rps` unless a ramp).
    pub to_rps: f64,
    #[serde(serialize_with = "as_secs")]
    pub duration: Duration,
}

impl Phase {
    pub fn is_ramp(&self) -> bool {
        self.from_rps != self.to_rps
    }

    /// The rate `t` into the phase (linear between the two ends); the
    /// schedule's arrivals follow it ([`Phase::offset_of`]).
    #[cfg(test)]
    pub fn rate_at(&self, t: Duration) -> f64 {
        let d = self.duration.as_secs_f64();
        let frac = (t.as_secs_f64() / d).clamp(0.0, 1.0);
        self.from_rps + (self.to_rps - self.from_rps) * frac
    }

    /// Requests intended over the whole phase (the area under the rate).
    pub fn expected_requests(&self) -> f64 {
        (self.from_rps + self.to_rps) / 2.0 * self.duration.as_secs_f64()
    }

    /// Offset into the phase of its `k`-th request (0-based), or `None`
    /// past its end. Solves `from*t + (to-from)*t²/(2d) = k` for `t`, so a
    /// ramp's arrivals thin out and crowd together exactly as its rate says.
    pub fn offset_of(&self, k: u64) -> Option<Duration> {
        let d = self.duration.as_secs_f64();
        let k = k as f64;
        let (r0, r1) = (self.from_rps, self.to_rps);
        let slope = (r1 - r0) / d;
        let t = if slope.abs() < 1e-12 {
            if r0 <= 0.0 {
                return None;
            }
            k / r0
        } else {
            // a t² + b t - k = 0 with a = slope/2, b = r0; the root that
            // is continuous as the slope goes to zero.
            let disc = r0 * r0 + 2.0 * slope * k;
            if disc < 0.0 {
                return None;
            }
            2.0 * k / (r0 + disc.sqrt())
        };
        (t.is_finite() && t < d).then(|| Duration::from_secs_f64(t))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub phases: Vec<Phase>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError(String);

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProfileError {}

fn err(msg: String) -> ProfileError {
    ProfileError(msg)
}

impl Profile {
    /// The issue's spike: baseline, a linear ramp to ten times it, a plateau
    /// at the peak, and a cool-down.
    pub const DEFAULT: &str =
        "baseline=300rps:60s,ramp=3000rps:120s,sustain=3000rps:120s,cooldown=300rps:30s";
    /// The same shape in under a minute, at rates a 2-core CI machine serves
    /// while also running the generator.
    pub const QUICK: &str =
        "baseline=200rps:10s,ramp=2000rps:15s,sustain=2000rps:20s,cooldown=200rps:5s";

    /// Parses `name=RATErps:DURATION[,...]`, e.g. `ramp=3000rps:120s`.
    /// Durations take `ms`, `s`, `m` or `h`.
    pub fn parse(spec: &str) -> Result<Profile, ProfileError> {
        let mut phases: Vec<Phase> = Vec::new();
        for (i, part) in spec.split(',').enumerate() {
            let part = part.trim();
            let at = || format!("phase {} ({part:?})", i + 1);
            let (name, rest) = part
                .split_once('=')
                .ok_or_else(|| err(format!("{}: expected NAME=RATErps:DURATION", at())))?;
            let name = name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(format!(
                    "{}: phase name must be letters, digits, '-' or '_'",
                    at()
                )));
            }
            if phases.iter().any(|p| p.name == name) {
                return Err(err(format!("{}: phase name {name:?} repeats", at())));
            }
            let (rate, duration) = rest
                .split_once(':')
                .ok_or_else(|| err(format!("{}: expected RATErps:DURATION after '='", at())))?;
            let rate = parse_rate(rate.trim()).map_err(|m| err(format!("{}: {m}", at())))?;
            let duration =
                parse_duration(duration.trim()).map_err(|m| err(format!("{}: {m}", at())))?;
            let previous = phases.last().map_or(0.0, |p| p.to_rps);
            let from_rps = if name.starts_with("ramp") {
                previous
            } else {
                rate
            };
            if from_rps == 0.0 && rate == 0.0 {
                return Err(err(format!("{}: a phase must send something", at())));
            }
            phases.push(Phase {
                name: name.to_string(),
                from_rps,
                to_rps: rate,
                duration,
            });
        }
        Ok(Profile { phases })
    }

    pub fn total_duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// Start offset of each phase from the start of the run.
    pub fn starts(&self) -> Vec<Duration> {
        let mut at = Duration::ZERO;
        self.phases
            .iter()
            .map(|p| {
                let start = at;
                at += p.duration;
                start
            })
            .collect()
    }

    pub fn peak_rps(&self) -> f64 {
        self.phases.iter().map(|p| p.to_rps).fold(0.0, f64::max)
    }

    /// The phases that reach the profile's peak (the ramp into it and the
    /// plateau): the ones the database-query budget defaults to 0 for.
    pub fn is_spike(&self, index: usize) -> bool {
        let peak = self.peak_rps();
        let lowest = self
            .phases
            .iter()
            .map(|p| p.to_rps)
            .fold(f64::INFINITY, f64::min);
        let p = &self.phases[index];
        peak > lowest && p.to_rps >= peak
    }

    /// Every intended send time, in order, with its phase index.
    pub fn schedule(&self) -> Schedule<'_> {
        Schedule {
            profile: self,
            starts: self.starts(),
            phase: 0,
            k: 0,
        }
    }
}

/// Iterator over `(phase index, offset from the run's start)`.
pub struct Schedule<'a> {
    profile: &'a Profile,
    starts: Vec<Duration>,
    phase: usize,
    k: u64,
}

impl Iterator for Schedule<'_> {
    type Item = (usize, Duration);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(p) = self.profile.phases.get(self.phase) {
            if let Some(t) = p.offset_of(self.k) {
                self.k += 1;
                return Some((self.phase, self.starts[self.phase] + t));
            }
            self.phase += 1;
            self.k = 0;
        }
        None
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let num = s
        .strip_suffix("rps")
        .ok_or_else(|| format!("rate {s:?} must end in 'rps' (e.g. 300rps)"))?;
    let rate: f64 = num
        .parse()
        .map_err(|_| format!("rate {s:?} is not a number of requests per second"))?;
    if !rate.is_finite() || rate < 0.0 {
        return Err(format!("rate {s:?} must be 0 or more"));
    }
    if rate > 1_000_000.0 {
        return Err(format!("rate {s:?} is above 1000000rps"));
    }
    Ok(rate)
}

/// `250ms`, `30s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.');
    let (num, unit) = s.split_at(split.unwrap_or(s.len()));
    let value: f64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} must be a number and a unit (ms, s, m, h)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "duration {s:?} needs a unit: ms, s, m or h (e.g. 60s)"
            ));
        }
    };
    if secs <= 0.0 || !secs.is_finite() {
        return Err(format!("duration {s:?} must be more than zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses_with_a_linear_ramp() {
        let p = Profile::parse(Profile::DEFAULT).unwrap();
        let names: Vec<_> = p.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["baseline", "ramp", "sustain", "cooldown"]);
        assert_eq!(p.phases[1].from_rps, 300.0);
        assert_eq!(p.phases[1].to_rps, 3000.0);
        assert!(p.phases[1].is_ramp());
        assert!(!p.phases[2].is_ramp());
        assert_eq!(p.total_duration(), Duration::from_secs(330));
        let spikes: Vec<bool> = (0..4).map(|i| p.is_spike(i)).collect();
        assert_eq!(spikes, [false, true, true, false]);
    }

    #[test]
    fn quick_has_the_same_shape_in_under_a_minute() {
        let q = Profile::parse(Profile::QUICK).unwrap();
        let d = Profile::parse(Profile::DEFAULT).unwrap();
        assert!(q.total_duration() < Duration::from_secs(60));
        let names = |p: &Profile| p.phases.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&q), names(&d));
    }

    #[test]
    fn bad_profiles_are_refused_naming_the_phase_and_the_problem() {
        let cases = [
            ("baseline=300:60s", "must end in 'rps'"),
            ("baseline=300rps", "expected RATErps:DURATION"),
            ("baseline", "expected NAME=RATErps:DURATION"),
            ("baseline=300rps:60", "needs a unit"),
            ("baseline=300rps:0s", "more than zero"),
            ("baseline=fastrps:60s", "not a number"),
            ("baseline=-5rps:60s", "0 or more"),
            ("a=1rps:1s,a=2rps:1s", "repeats"),
            ("a b=1rps:1s", "phase name"),
            ("idle=0rps:5s", "must send something"),
        ];
        for (spec, expected) in cases {
            let e = Profile::parse(spec).unwrap_err().to_string();
            assert!(e.contains(expected), "{spec}: {e}");
            assert!(e.contains("phase "), "{spec}: {e} names no phase");
        }
        let e = Profile::parse("a=1rps:1s,b=2rps:2x")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("phase 2 "), "{e}");
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn the_ramp_interpolates_from_the_previous_rate() {
        let p = Profile::parse("base=100rps:10s,ramp=1100rps:10s").unwrap();
        let ramp = &p.phases[1];
        assert_eq!(ramp.rate_at(Duration::ZERO), 100.0);
        assert_eq!(ramp.rate_at(Duration::from_secs(5)), 600.0);
        assert_eq!(ramp.rate_at(Duration::from_secs(10)), 1100.0);
        assert_eq!(ramp.expected_requests(), 6000.0);
        // A first-phase ramp starts from zero.
        let p = Profile::parse("ramp=1000rps:10s").unwrap();
        assert_eq!(p.phases[0].from_rps, 0.0);
        assert_eq!(p.phases[0].rate_at(Duration::from_secs(5)), 500.0);
    }

    #[test]
    fn a_constant_phase_sends_at_even_intervals() {
        let p = Profile::parse("flat=200rps:2s").unwrap();
        let times: Vec<_> = p.schedule().collect();
        assert_eq!(times.len(), 400);
        assert_eq!(times[0], (0, Duration::ZERO));
        assert_eq!(times[1].1, Duration::from_millis(5));
        assert_eq!(times[399].1, Duration::from_millis(1995));
    }

    #[test]
    fn the_schedule_follows_the_ramp_and_crosses_phases_in_order() {
        let p = Profile::parse("base=100rps:10s,ramp=1100rps:10s,hold=1100rps:5s").unwrap();
        let times: Vec<_> = p.schedule().collect();
        let count = |i: usize| times.iter().filter(|(ph, _)| *ph == i).count() as f64;
        assert_eq!(count(0), 1000.0);
        assert!((count(1) - 6000.0).abs() <= 1.0, "{}", count(1));
        assert_eq!(count(2), 5500.0);
        assert!(times.windows(2).all(|w| w[0].1 <= w[1].1), "not monotonic");
        // Arrivals within the ramp: its first second is near 100 rps, its
        // last near 1100 rps.
        let in_window = |from: f64, to: f64| {
            times
                .iter()
                .filter(|(_, t)| (from..to).contains(&t.as_secs_f64()))
                .count() as f64
        };
        assert!((in_window(10.0, 11.0) - 150.0).abs() <= 2.0);
        assert!((in_window(19.0, 20.0) - 1050.0).abs() <= 2.0);
        // The ramp's first request follows the baseline's last.
        let first_ramp = times.iter().find(|(ph, _)| *ph == 1).unwrap().1;
        assert_eq!(first_ramp, Duration::from_secs(10));
    }
}
