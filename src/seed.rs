//! The demo site: a handful of teams, a dozen matches around the current
//! time (finished, live and upcoming) and some articles, so a newcomer's first
//! `keel serve --demo` shows a real match day. Entries are validated against
//! their content types and published like an editor's would be.

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::editor::{Editor, IfMatch};
use crate::error::AppError;
use crate::model::EntryId;

const AUTHOR: &str = "seed";

/// What a seed run created.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub teams: usize,
    pub matches: usize,
    pub articles: usize,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seeded {} teams, {} matches, {} articles",
            self.teams, self.matches, self.articles
        )
    }
}

const TEAMS: &[(&str, &str, &str, i64, &str)] = &[
    (
        "harbour-city",
        "Harbour City FC",
        "England",
        1887,
        "Founded by dock workers, Harbour City play in **navy and white** at the Quayside Ground.",
    ),
    (
        "northgate-rovers",
        "Northgate Rovers",
        "England",
        1902,
        "The Rovers won their only league title in 1978 and have chased a second ever since.",
    ),
    (
        "valley-athletic",
        "Valley Athletic",
        "Wales",
        1911,
        "A club of the valleys, famous for its *singing terraces* and its youth academy.",
    ),
    (
        "riverside-united",
        "Riverside United",
        "Scotland",
        1894,
        "Riverside United play on the banks of the river in a ground that floods every other winter.",
    ),
    (
        "eastport-town",
        "Eastport Town",
        "England",
        1920,
        "Promoted three times in five seasons, Eastport are the league's newest force.",
    ),
    (
        "highland-wanderers",
        "Highland Wanderers",
        "Scotland",
        1879,
        "The oldest club in the league. Their away kit is still the original tartan.",
    ),
];

/// (home, away, hours from now, status, home score, away score)
const FIXTURES: &[(usize, usize, i64, &str, i64, i64)] = &[
    (0, 1, -72, "finished", 2, 1),
    (2, 3, -70, "finished", 0, 0),
    (4, 5, -48, "finished", 3, 2),
    (1, 2, -26, "finished", 1, 4),
    (3, 0, -24, "finished", 2, 2),
    (5, 4, -1, "live", 1, 0),
    (0, 2, 0, "live", 0, 0),
    (1, 3, 2, "scheduled", 0, 0),
    (4, 0, 24, "scheduled", 0, 0),
    (2, 5, 26, "scheduled", 0, 0),
    (3, 4, 48, "scheduled", 0, 0),
    (5, 1, 72, "scheduled", 0, 0),
];

const COMPETITIONS: &[&str] = &["Premier Cup", "League One"];
const VENUES: &[&str] = &[
    "Quayside Ground",
    "Northgate Park",
    "Valley Road",
    "Riverside Stadium",
    "Eastport Arena",
    "Glen Park",
];

/// Seeds the demo site. Meant for an empty database: slugs that exist already
/// make it fail rather than duplicate content.
pub async fn seed_demo(editor: &Editor, now: DateTime<Utc>) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    let mut team_ids = Vec::with_capacity(TEAMS.len());
    for (slug, name, country, founded, bio) in TEAMS {
        let data = json!({ "name": name, "country": country, "founded": founded, "bio": bio });
        team_ids.push(publish(editor, "team", slug, data).await?);
        report.teams += 1;
    }

    let mut match_ids = Vec::with_capacity(FIXTURES.len());
    for (i, &(home, away, hours, status, home_score, away_score)) in FIXTURES.iter().enumerate() {
        let kickoff = now + Duration::hours(hours);
        let slug = format!(
            "{}-vs-{}-{}",
            TEAMS[home].0,
            TEAMS[away].0,
            kickoff.format("%Y-%m-%d")
        );
        let report_md = if status == "finished" {
            Value::from(format!(
                "## Match report\n\n{} beat the odds in front of a full house at {}.\n\n\
                 | | {} | {} |\n|---|---|---|\n| Goals | {home_score} | {away_score} |\n",
                TEAMS[home].1, VENUES[home], TEAMS[home].1, TEAMS[away].1
            ))
        } else {
            Value::Null
        };
        let mut data = json!({
            "home_team": team_ids[home].to_string(),
            "away_team": team_ids[away].to_string(),
            "competition": COMPETITIONS[i % COMPETITIONS.len()],
            "kickoff": kickoff.to_rfc3339_opts(SecondsFormat::Secs, true),
            "venue": VENUES[home],
            "status": status,
            "home_score": home_score,
            "away_score": away_score,
        });
        if !report_md.is_null() {
            data["report"] = report_md;
        }
        match_ids.push((publish(editor, "match", &slug, data).await?, home, away));
        report.matches += 1;
    }

    for (i, (match_id, home, away)) in match_ids.iter().enumerate().step_by(3) {
        let (home, away) = (TEAMS[*home].1, TEAMS[*away].1);
        let slug = format!("preview-{}", i + 1);
        let data = json!({
            "title": format!("{home} against {away}: what to watch"),
            "body": format!(
                "{home} meet {away} with both sides in form.\n\n\
                 - The midfield battle decides it.\n- Set pieces matter.\n\n\
                 > \"We are ready,\" said the {home} captain.[^1]\n\n\
                 [^1]: Speaking at the pre-match press conference."
            ),
            "tags": ["preview", "match-day"],
            "match": match_id.to_string(),
        });
        publish(editor, "article", &slug, data).await?;
        report.articles += 1;
    }
    Ok(report)
}

/// Creates and publishes one entry through the editor, as an editor would.
async fn publish(
    editor: &Editor,
    type_name: &str,
    slug: &str,
    data: Value,
) -> anyhow::Result<EntryId> {
    let entry = editor
        .create(type_name, slug, data, AUTHOR)
        .await
        .map_err(|e| anyhow::anyhow!("creating demo {type_name} {slug:?}: {}", describe(&e)))?;
    editor
        .publish(
            type_name,
            entry.id,
            None,
            &IfMatch::version(entry.version),
            AUTHOR,
        )
        .await
        .map_err(|e| anyhow::anyhow!("publishing demo {type_name} {slug:?}: {}", describe(&e)))?;
    Ok(entry.id)
}

fn describe(e: &AppError) -> String {
    match e {
        AppError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.pointer, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
