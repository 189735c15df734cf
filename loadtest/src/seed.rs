//! Seeds a match-day site through the editor API, as editors would: teams,
//! then matches with kick-offs around now (some finished, some live, most
//! in the coming hours and days), then articles about the hottest matches.
//! Every entry is created and published; a few run at once, since each
//! publish renders and brotli-compresses its pages (about 0.1 to 0.5 s).
//! Slugs carry a run id, so seeding twice into one database never clashes.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use hyper::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

use crate::http::Api;
use crate::prose;

#[derive(Debug, Clone, Copy)]
pub struct SeedSize {
    pub teams: usize,
    pub matches: usize,
    pub articles: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedReport {
    pub teams: usize,
    pub matches: usize,
    pub live_matches: usize,
    pub articles: usize,
    pub seconds: f64,
}

const CITIES: &[&str] = &[
    "harbour",
    "northgate",
    "valley",
    "riverside",
    "eastport",
    "highland",
    "westbrook",
    "southend",
    "kingsford",
    "lakeside",
    "ironbridge",
    "millbrook",
    "oakham",
    "redcliff",
    "stonehaven",
    "thornbury",
    "ashford",
    "beacon",
    "castleton",
    "dunmore",
    "elmstead",
    "fairhaven",
    "glenrock",
    "hillcrest",
];
const COUNTRIES: &[&str] = &["England", "Scotland", "Wales"];
const NICKNAMES: &[&str] = &["City", "Rovers", "Athletic", "United", "Town", "Wanderers"];
const COMPETITIONS: &[&str] = &["Premier Cup", "League One", "Champions Shield"];

/// A deterministic per-run id: base 36 of the start second, short enough
/// for slugs.
pub fn run_id(now: DateTime<Utc>) -> String {
    let mut n = now.timestamp().unsigned_abs();
    let mut out = Vec::new();
    while n > 0 {
        out.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A match's kick-off, status and score, spread around `now`: an eighth
/// live, a quarter finished over the last three days, the rest upcoming,
/// denser in the next hours.
pub fn fixture(
    i: usize,
    n: usize,
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> (DateTime<Utc>, &'static str, i64, i64) {
    let slot = i as f64 / n.max(1) as f64;
    if slot < 0.125 {
        let minutes = rng.random_range(5..110);
        let (h, a) = (rng.random_range(0..3), rng.random_range(0..3));
        (now - Duration::minutes(minutes), "live", h, a)
    } else if slot < 0.375 {
        let minutes = rng.random_range(130..72 * 60);
        let (h, a) = (rng.random_range(0..5), rng.random_range(0..4));
        (now - Duration::minutes(minutes), "finished", h, a)
    } else if slot < 0.75 {
        let minutes = rng.random_range(10..6 * 60);
        (now + Duration::minutes(minutes), "scheduled", 0, 0)
    } else {
        let minutes = rng.random_range(6 * 60..7 * 24 * 60);
        (now + Duration::minutes(minutes), "scheduled", 0, 0)
    }
}

pub async fn seed(
    api: Arc<Api>,
    size: SeedSize,
    concurrency: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    let run = run_id(now);
    let mut rng = StdRng::seed_from_u64(now.timestamp().unsigned_abs());

    let teams: Vec<(String, Value)> = (0..size.teams)
        .map(|i| {
            let city = CITIES[i % CITIES.len()];
            let nick = NICKNAMES[(i / CITIES.len() + i) % NICKNAMES.len()];
            let name = format!("{} {nick}", capitalise(city));
            let slug = format!("{city}-{}-{i}-{run}", nick.to_lowercase());
            let data = json!({
                "name": name,
                "country": COUNTRIES[i % COUNTRIES.len()],
                "founded": 1870 + (i * 7) % 130,
                "bio": format!("{name} play at the **{} Ground**.\n\n{}", capitalise(city),
                    prose::history(&mut rng, &name, &capitalise(city))),
            });
            (slug, data)
        })
        .collect();
    let names: Vec<String> = teams
        .iter()
        .map(|(_, data)| data["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let team_ids = publish_all(&api, "team", teams, concurrency).await?;

    let mut live_matches = 0;
    let mut matches_of = Vec::with_capacity(size.matches);
    let matches: Vec<(String, Value)> = (0..size.matches)
        .map(|i| {
            let home = rng.random_range(0..team_ids.len());
            let away = (home + rng.random_range(1..team_ids.len().max(2))) % team_ids.len();
            let (kickoff, status, h, a) = fixture(i, size.matches, now, &mut rng);
            live_matches += usize::from(status == "live");
            let slug = format!("match-{i}-{}-{run}", kickoff.format("%Y-%m-%d"));
            let mut data = json!({
                "home_team": team_ids[home],
                "away_team": team_ids[away],
                "competition": COMPETITIONS[i % COMPETITIONS.len()],
                "kickoff": kickoff.to_rfc3339_opts(SecondsFormat::Secs, true),
                "venue": format!("{} Ground", capitalise(CITIES[home % CITIES.len()])),
                "status": status,
                "home_score": h,
                "away_score": a,
            });
            let (home_name, away_name) = (&names[home], &names[away]);
            if status != "scheduled" {
                let played = (now - kickoff).num_minutes().clamp(0, 95);
                data["commentary"] =
                    json!(prose::commentary(&mut rng, home_name, away_name, played));
                data["attendance"] = json!(10_000 + i * 37);
                data["home_possession"] = json!(rng.random_range(35..70));
            }
            if status == "finished" {
                data["report"] = json!(prose::report(&mut rng, home_name, away_name, (h, a)));
            }
            matches_of.push((home_name.clone(), away_name.clone()));
            (slug, data)
        })
        .collect();
    let match_ids = publish_all(&api, "match", matches, concurrency).await?;

    let articles: Vec<(String, Value)> = (0..size.articles)
        .map(|i| {
            // About the live and soon-to-start matches, which come first.
            let which = i % match_ids.len().min(size.matches / 2).max(1);
            let about = &match_ids[which];
            let (home, away) = &matches_of[which];
            let competition = COMPETITIONS[which % COMPETITIONS.len()];
            let slug = format!("story-{i}-{run}");
            let data = json!({
                "title": format!("{home} v {away}: the team news and what to watch"),
                "body": prose::article(&mut rng, home, away, competition),
                "tags": ["preview", "team-news"],
                "match": about,
            });
            (slug, data)
        })
        .collect();
    publish_all(&api, "article", articles, concurrency).await?;

    Ok(SeedReport {
        teams: size.teams,
        matches: size.matches,
        live_matches,
        articles: size.articles,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Creates and publishes every entry, `concurrency` at a time; returns
/// their ids in input order.
async fn publish_all(
    api: &Arc<Api>,
    type_name: &'static str,
    entries: Vec<(String, Value)>,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let total = entries.len();
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let tasks: Vec<_> = entries
        .into_iter()
        .map(|(slug, data)| {
            let (api, gate) = (api.clone(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await?;
                create_and_publish(&api, type_name, &slug, &data).await
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(total);
    for task in tasks {
        ids.push(task.await??);
    }
    eprintln!(
        "seeded {total} {type_name} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ids)
}

async fn create_and_publish(
    api: &Api,
    type_name: &str,
    slug: &str,
    data: &Value,
) -> anyhow::Result<String> {
    let created = api
        .json(
            Method::POST,
            &format!("/api/v1/entries/{type_name}"),
            Some(&json!({ "slug": slug, "data": data })),
        )
        .await?;
    let id = created["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("created {type_name} {slug} has no id"))?
        .to_string();
    api.json(
        Method::POST,
        &format!("/api/v1/entries/{type_name}/{id}/publish"),
        None,
    )
    .await?;
    Ok(id)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_spread_around_now_with_live_matches_first() {
        let now = Utc::now();
        let mut rng = StdRng::seed_from_u64(3);
        let all: Vec<_> = (0..200).map(|i| fixture(i, 200, now, &mut rng)).collect();
        let count = |s: &str| all.iter().filter(|f| f.1 == s).count();
        assert_eq!(count("live"), 25);
        assert_eq!(count("finished"), 50);
        assert_eq!(count("scheduled"), 125);
        for (kickoff, status, _, _) in &all {
            match *status {
                "live" => assert!(*kickoff < now && now - *kickoff < Duration::hours(2)),
                "finished" => assert!(*kickoff < now - Duration::hours(2)),
                _ => assert!(*kickoff > now),
            }
        }
        assert!(all[0].1 == "live");
    }

    #[test]
    fn run_ids_are_slug_safe() {
        let id = run_id(Utc::now());
        assert!(!id.is_empty());
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
