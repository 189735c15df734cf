//! Text for seeded entries at the length a newsroom writes it: a preview of
//! 600-900 words, a match report of 400-600, a live commentary line every
//! minute or two, a club history of a few paragraphs. Page sizes decide
//! what a cache hit costs (bytes copied, written, compressed), so a site
//! seeded with one-line bodies would flatter every server it is tried on.
//!
//! Sentences are drawn from templates with names, minutes and figures
//! filled in, so pages differ from each other and compress about as well as
//! real prose (brotli 4-5x, where a repeated sentence would give 50x).

use rand::Rng;
use rand::seq::IndexedRandom;

const FIRST: &[&str] = &[
    "Adam", "Ben", "Callum", "Dan", "Elliot", "Finn", "George", "Harry", "Isaac", "Jack", "Kyle",
    "Liam", "Marcus", "Nathan", "Owen", "Paddy", "Reece", "Sam", "Tom", "Will", "Jamal", "Kieran",
    "Luca", "Mateo", "Rhys", "Ryan", "Scott", "Theo", "Tyrone", "Ziggy",
];
const LAST: &[&str] = &[
    "Abbott",
    "Barker",
    "Campbell",
    "Doyle",
    "Evans",
    "Fletcher",
    "Grant",
    "Hughes",
    "Irwin",
    "Jones",
    "Kerr",
    "Lowe",
    "McAllister",
    "Nolan",
    "Okafor",
    "Price",
    "Quinn",
    "Reid",
    "Sutton",
    "Turner",
    "Vaughan",
    "Walsh",
    "Young",
    "Adeyemi",
    "Brennan",
    "Costa",
    "Dunne",
    "Fraser",
    "Mensah",
    "Novak",
];
const MANAGER_SAID: &[&str] = &[
    "We have worked all week on the shape without the ball, and the players know what is coming",
    "It is a big game for the town and we will not hide from that",
    "The medical staff will have the final say, but I expect most of the squad to be available",
    "They are well coached and dangerous on the break, so we must be patient",
    "Our supporters travel in numbers and we owe them a performance",
    "Nobody in that dressing room needs telling what a result here would mean",
    "We were not good enough last time and the lads have not forgotten it",
];
const PREVIEW: &[&str] = &[
    "{home} go into this one with {n} wins from their last {m} matches, a run built on a defence that has conceded only {k} goals in that time.",
    "{away} have struggled away from home this season, picking up {k} points from {m} trips, and their manager admitted on Friday that the travelling has taken its toll.",
    "The last meeting between the sides ended {a}-{b}, a game remembered for {player}'s late header and a penalty appeal that is still argued about in the stands.",
    "{player} is expected to return after {n} weeks out with a hamstring strain, though the club were careful not to put a number on his minutes.",
    "Much will depend on the midfield, where {player} has completed more passes than anyone else in the division over the past month.",
    "{away} will be without {player}, suspended after picking up a fifth booking of the season in the {k}-{n} draw last weekend.",
    "Tickets for the home end sold out within {n} hours, and the club expects a crowd of around {attendance}, the biggest of the season so far.",
    "The forecast is for rain, which suits a side that likes to press high and turn the ball over in the final third.",
    "Set pieces could decide it: {home} have scored {n} times from corners this season, more than any other side in the {competition}.",
    "{player} has been the talk of the training ground this week, and there is a feeling he could start ahead of the club captain.",
    "History favours the hosts, who have lost only {k} of the last {m} meetings on their own ground.",
    "Neither side can afford to drop points with the table this tight: {n} points separate the top {m} clubs going into the weekend.",
];
const REPORT: &[&str] = &[
    "{home} started brightly, and {player} forced a save from the goalkeeper inside the first {n} minutes with a shot that was going in at the near post.",
    "The visitors grew into the game after a nervy opening, and {player} began to find space between the lines.",
    "The breakthrough came on {minute} minutes, when {player} met a low cross at the far post and steered it beyond the keeper.",
    "{player} was booked on {minute} minutes for a late challenge on the halfway line, and the home crowd let the referee know what they thought of it.",
    "After the break {away} pushed their full-backs higher, and for a spell the home side could barely get out of their own half.",
    "A double substitution on the hour changed the shape of the game, with {player} moving into a more central role.",
    "{player} should have done better with a free header from {n} yards, but the chance went begging and the bench held their heads.",
    "The second half was scrappier, broken up by fouls and stoppages, and the {attendance} in the ground grew restless.",
    "It was {player} who made the difference in the end, picking the ball up deep and running at a defence that had stopped moving.",
    "The final whistle was greeted with a roar, and the players stayed on the pitch for several minutes to applaud the travelling support.",
    "The statistics told a story of {home_possession} per cent possession for the hosts, but the better chances fell to the visitors.",
];
const COMMENTARY: &[&str] = &[
    "{player} wins a corner on the right after good work down the flank.",
    "Chance! {player} cuts inside and curls one just wide of the far post.",
    "Yellow card for {player}, who went through the back of his man on the halfway line.",
    "{player} goes down holding his ankle; the physio is on and play is stopped.",
    "Free kick to {team} about {n} yards out, slightly left of centre.",
    "Save! The keeper gets down well to push {player}'s low drive around the post.",
    "{team} are keeping the ball well now, patient passing across the back four.",
    "Substitution for {team}: {player} comes on, and it looks like a change of shape to a back three.",
    "Offside flag goes up against {player}, who had timed his run a fraction too early.",
    "The crowd is on its feet after a crunching but fair tackle by {player}.",
    "{player} heads clear from a dangerous cross; the second ball falls to {team} but the shot is blocked.",
    "Long ball over the top for {player}, but the first touch is heavy and the keeper gathers.",
    "Penalty appeal waved away: {player} went down under contact, but the referee is not interested.",
    "{team} have had the better of the last ten minutes without creating a clear chance.",
];
const HISTORY: &[&str] = &[
    "{team} were founded in {year} by workers from the {city} docks, who played their first matches on a field behind the Station Hotel.",
    "The club joined the county league in {year} and turned professional {n} years later, playing in the same colours from the first season.",
    "Their home since {year} has been the {city} Ground, which holds {attendance} and still has the old main stand, listed in {year2}.",
    "The greatest side in the club's history won the {competition} in {year}, led by a captain whose statue now stands outside the ground.",
    "Relegation in {year} came close to ending the club, and it was a supporters' trust that bought the ground and kept them alive.",
    "The academy has produced {n} internationals, and most of the current first team came through it.",
    "The rivalry with their neighbours dates back to a cup tie in {year} that finished with both sides down to nine men.",
];

/// A preview of 600-900 words with two subheadings, a quote and a list.
pub fn article(rng: &mut impl Rng, home: &str, away: &str, competition: &str) -> String {
    let mut out = String::new();
    let manager = format!(
        "{} {}",
        FIRST.choose(rng).unwrap(),
        LAST.choose(rng).unwrap()
    );
    for (heading, paragraphs) in [("The form", 3), ("Team news", 3), ("What to watch", 2)] {
        out.push_str(&format!("## {heading}\n\n"));
        for _ in 0..paragraphs {
            paragraph(rng, &mut out, PREVIEW, 3..6, home, away, competition);
        }
        if heading == "Team news" {
            out.push_str(&format!(
                "> “{}.” — {manager}, {home} manager\n\n",
                MANAGER_SAID.choose(rng).unwrap()
            ));
        }
    }
    out.push_str("Key battles:\n\n");
    for _ in 0..3 {
        out.push_str(&format!("- {} against {}\n", player(rng), player(rng)));
    }
    out
}

/// A report of 400-600 words with a table of the score.
pub fn report(rng: &mut impl Rng, home: &str, away: &str, score: (i64, i64)) -> String {
    let mut out = String::from("## Match report\n\n");
    for _ in 0..5 {
        paragraph(rng, &mut out, REPORT, 3..6, home, away, "");
    }
    out.push_str(&format!(
        "| | {home} | {away} |\n|---|---|---|\n| Goals | {} | {} |\n| Shots | {} | {} |\n| Corners | {} | {} |\n",
        score.0,
        score.1,
        rng.random_range(4..20),
        rng.random_range(4..20),
        rng.random_range(1..12),
        rng.random_range(1..12)
    ));
    out
}

/// One line per minute or two up to `minutes`, oldest first, as the
/// console appends them (the page shows them newest first).
pub fn commentary(rng: &mut impl Rng, home: &str, away: &str, minutes: i64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut minute = 1;
    while minute <= minutes.min(95) {
        let template = COMMENTARY.choose(rng).unwrap();
        let team = if rng.random_bool(0.5) { home } else { away };
        let text = fill(rng, template, home, away, "").replace("{team}", team);
        lines.push(format!("{minute}' {text}"));
        minute += rng.random_range(1..3);
    }
    lines
}

/// A club history of three paragraphs.
pub fn history(rng: &mut impl Rng, team: &str, city: &str) -> String {
    let mut out = String::from("## History\n\n");
    for _ in 0..3 {
        let mut sentences: Vec<&str> = HISTORY.choose_multiple(rng, 3).copied().collect();
        sentences.sort_unstable();
        let text: Vec<String> = sentences
            .iter()
            .map(|s| {
                fill(rng, s, team, "", "the County Cup")
                    .replace("{team}", team)
                    .replace("{city}", city)
            })
            .collect();
        out.push_str(&text.join(" "));
        out.push_str("\n\n");
    }
    out
}

fn paragraph(
    rng: &mut impl Rng,
    out: &mut String,
    templates: &[&str],
    sentences: std::ops::Range<usize>,
    home: &str,
    away: &str,
    competition: &str,
) {
    let n = rng.random_range(sentences);
    let text: Vec<String> = (0..n)
        .map(|_| {
            let template = templates.choose(rng).unwrap();
            fill(rng, template, home, away, competition)
        })
        .collect();
    out.push_str(&text.join(" "));
    out.push_str("\n\n");
}

fn player(rng: &mut impl Rng) -> String {
    format!(
        "{} {}",
        FIRST.choose(rng).unwrap(),
        LAST.choose(rng).unwrap()
    )
}

fn fill(rng: &mut impl Rng, template: &str, home: &str, away: &str, competition: &str) -> String {
    let mut out = template
        .replace("{home}", home)
        .replace("{away}", away)
        .replace("{competition}", competition);
    // Each slot its own draw, so one template reads differently each time.
    for (slot, value) in [
        ("{n}", None),
        ("{m}", None),
        ("{k}", None),
        ("{a}", None),
        ("{b}", None),
        ("{minute}", Some(rng.random_range(2..90))),
        ("{attendance}", Some(rng.random_range(4_000..52_000))),
        ("{home_possession}", Some(rng.random_range(35..70))),
        ("{year}", Some(rng.random_range(1878..2020))),
        ("{year2}", Some(rng.random_range(1960..2024))),
    ] {
        while out.contains(slot) {
            let v = value.unwrap_or_else(|| rng.random_range(1..12));
            out = out.replacen(slot, &v.to_string(), 1);
        }
    }
    while out.contains("{player}") {
        let name = player(rng);
        out = out.replacen("{player}", &name, 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    #[test]
    fn bodies_are_the_length_a_newsroom_writes() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20 {
            let a = article(&mut rng, "Harbour City", "Valley Athletic", "Premier Cup");
            assert!(
                (450..=1100).contains(&words(&a)),
                "article of {} words",
                words(&a)
            );
            assert!(!a.contains('{'), "a slot left unfilled: {a}");
            let r = report(&mut rng, "Harbour City", "Valley Athletic", (2, 1));
            assert!(
                (300..=750).contains(&words(&r)),
                "report of {} words",
                words(&r)
            );
            let h = history(&mut rng, "Harbour City", "Harbour");
            assert!(
                (100..=400).contains(&words(&h)),
                "history of {} words",
                words(&h)
            );
            assert!(!h.contains('{') && !r.contains('{'));
        }
    }

    #[test]
    fn commentary_fits_the_match_type() {
        let mut rng = StdRng::seed_from_u64(7);
        let lines = commentary(&mut rng, "Harbour City", "Valley Athletic", 90);
        // The match type allows 300 lines of at most 280 characters.
        assert!((40..=95).contains(&lines.len()), "{} lines", lines.len());
        assert!(
            lines
                .iter()
                .all(|l| l.chars().count() <= 280 && !l.contains('{'))
        );
        assert!(lines[0].starts_with("1'"), "oldest first: {}", lines[0]);
        assert!(commentary(&mut rng, "A", "B", 0).is_empty());
    }
}
