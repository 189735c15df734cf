//! The demo site: a handful of teams, a dozen matches around the current
//! time (finished, live and upcoming) and some articles, so a newcomer's first
//! `keel serve --demo` shows a real match day. Entries are validated against
//! their content types and published like an editor's would be; the
//! pictures (club crests, match graphics, [`images`]) are drawn in code and
//! uploaded like an editor's files.

pub mod images;

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::editor::{Editor, IfMatch};
use crate::error::AppError;
use crate::library::{Library, Upload, Uploaded};
use crate::model::{EntryId, Media};

use self::images::{Kit, Pattern};

const AUTHOR: &str = "seed";

/// What a seed run created.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub teams: usize,
    pub matches: usize,
    pub articles: usize,
    pub images: usize,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seeded {} teams, {} matches, {} articles, {} images",
            self.teams, self.matches, self.articles, self.images
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

/// Each club's colours, in the order of `TEAMS`.
const KITS: [Kit; 6] = [
    Kit {
        primary: [24, 43, 92],
        secondary: [240, 240, 236],
        pattern: Pattern::Stripes,
    },
    Kit {
        primary: [200, 16, 46],
        secondary: [250, 250, 250],
        pattern: Pattern::Chevron,
    },
    Kit {
        primary: [16, 112, 64],
        secondary: [250, 204, 21],
        pattern: Pattern::Hoops,
    },
    Kit {
        primary: [110, 34, 120],
        secondary: [235, 235, 235],
        pattern: Pattern::Halves,
    },
    Kit {
        primary: [240, 120, 20],
        secondary: [20, 20, 24],
        pattern: Pattern::Sash,
    },
    Kit {
        primary: [0, 94, 153],
        secondary: [214, 40, 40],
        pattern: Pattern::Cross,
    },
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
pub async fn seed_demo(
    editor: &Editor,
    library: &Library,
    now: DateTime<Utc>,
) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    let mut team_ids = Vec::with_capacity(TEAMS.len());
    for (i, (slug, name, country, founded, bio)) in TEAMS.iter().enumerate() {
        let crest = upload(
            library,
            &format!("{slug}-crest.png"),
            images::crest(KITS[i]),
            &format!("{name} crest"),
            None,
        )
        .await?;
        report.images += 1;
        let data = json!({
            "name": name,
            "country": country,
            "founded": founded,
            "bio": bio,
            "crest": {"media": crest.id.to_string(), "alt": format!("{name} crest")},
        });
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
        // The big fixtures (the live ones, and those the previews are
        // about) get a match graphic.
        let hero = if status == "live" || i % 3 == 0 {
            let (h, a) = (TEAMS[home].1, TEAMS[away].1);
            let alt = format!("{h} against {a}: the two clubs' crests on a floodlit pitch");
            let graphic = images::match_graphic(KITS[home], KITS[away]);
            let media = upload(
                library,
                &format!("{slug}.png"),
                graphic,
                &alt,
                Some("keel demo"),
            )
            .await?;
            report.images += 1;
            data["hero"] =
                json!({"media": media.id.to_string(), "alt": alt, "credit": "keel demo"});
            Some(data["hero"].clone())
        } else {
            None
        };
        match_ids.push((
            publish(editor, "match", &slug, data).await?,
            home,
            away,
            hero,
        ));
        report.matches += 1;
    }

    for (i, (match_id, home, away, hero)) in match_ids.iter().enumerate().step_by(3) {
        let (home, away) = (TEAMS[*home].1, TEAMS[*away].1);
        let slug = format!("preview-{}", i + 1);
        let mut data = json!({
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
        if let Some(hero) = hero {
            data["hero"] = hero.clone();
        }
        publish(editor, "article", &slug, data).await?;
        report.articles += 1;
    }
    Ok(report)
}

/// Uploads a drawn picture as an editor would (checked, variants made).
async fn upload(
    library: &Library,
    file_name: &str,
    bytes: Vec<u8>,
    alt: &str,
    credit: Option<&str>,
) -> anyhow::Result<Media> {
    let upload = Upload {
        bytes: bytes.into(),
        file_name: Some(file_name.to_owned()),
        alt: alt.to_owned(),
        credit: credit.map(str::to_owned),
        ..Upload::default()
    };
    match library.upload(upload, AUTHOR).await {
        Ok(Uploaded::Created(media) | Uploaded::Existing(media)) => Ok(media),
        Err(e) => Err(anyhow::anyhow!("uploading demo image {file_name:?}: {e}")),
    }
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
