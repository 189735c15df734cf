//! Entry search: turning what an editor typed into a `to_tsquery` of word
//! prefixes that no input can break, and the statement that finds the
//! entries through `entries_search_idx` (migration V8), whose words are
//! split and folded the same way.

use super::Filtered;
use crate::model::Entry;
use crate::store::postgres::PgStore;
use crate::store::postgres::rows::{self, select_entries};
use crate::store::{EntrySearch, StoreResult};

impl PgStore {
    pub(in crate::store::postgres) async fn select_search(
        &self,
        search: &EntrySearch,
    ) -> StoreResult<Vec<Entry>> {
        let limit = i64::from(search.limit);
        let status = search.status.map(|s| s.as_str());
        let words = prefix_query(&search.text);
        let q = search_query(search, &words, &status, &limit);
        let rows = self.filtered("search_entries", &q).await?;
        rows.iter().map(rows::entry).collect()
    }
}

/// The statement for a search; `words` is its `prefix_query`.
pub(in crate::store::postgres) fn search_query<'a>(
    search: &'a EntrySearch,
    words: &'a Option<String>,
    status: &'a Option<&'static str>,
    limit: &'a i64,
) -> Filtered<'a> {
    let mut q = match words {
        None => Filtered::new(select_entries!("")),
        // The matches are found first, fenced off from the LIMIT: a
        // prepared statement's generic plan knows neither the words nor
        // the limit, guesses few rows, and would rather walk the type's
        // id index backwards computing every entry's search text (150 ms
        // on 3,000 entries, against 0.5 ms through entries_search_idx).
        Some(_) => Filtered::new("WITH found AS MATERIALIZED (SELECT id FROM entries"),
    };
    q.and("type = $?", &search.type_name);
    if let Some(words) = words {
        // Exactly the indexed expression, so entries_search_idx serves it.
        q.and(
            "keel_search_text(slug, data) @@ to_tsquery('simple', $?)",
            words,
        );
    }
    if let Some(before) = &search.before {
        q.and("id < $?", before);
    }
    if let Some(status) = status {
        q.and("status = $?", status);
    }
    if search.scheduled {
        q.and_always("status = 'scheduled'");
    }
    if search.unpublished_changes {
        q.and_always(
            "published_data IS NOT NULL \
             AND (data <> published_data OR slug <> published_slug)",
        );
    }
    match words {
        None => q.then("ORDER BY id DESC LIMIT $?", limit),
        Some(_) => q.then(
            concat!(
                ") ",
                select_entries!(
                    "WHERE id IN (SELECT id FROM found ORDER BY id DESC LIMIT $?) \
                     ORDER BY id DESC"
                )
            ),
            limit,
        ),
    }
    q
}

/// Latin letters with diacritics and what they fold to; the migration's
/// `keel_search_text` folds the same (a test holds the two equal).
pub(in crate::store::postgres) const FOLD_FROM: &str = "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöøùúûüýÿ\
    ĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĴĵĶķĹĺĻļĽľĿŀŁłŃńŅņŇňŌōŎŏŐő\
    ŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžȘșȚț";
pub(in crate::store::postgres) const FOLD_TO: &str = "AAAAAACEEEEIIIINOOOOOOUUUUYaaaaaaceeeeiiiinoooooouuuuyy\
    AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiJjKkLlLlLlLlLlNnNnNnOoOoOo\
    RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzSsTt";

/// Most words of a search that count; later ones are ignored.
const MAX_WORDS: usize = 16;
/// Longest word kept, in characters; a longer one is cut to this prefix.
/// No indexed string is longer (fields over 200 are not indexed), and
/// PostgreSQL would drop a word over 2047 bytes.
const MAX_WORD_CHARS: usize = 200;

fn fold(c: char) -> char {
    if !('À'..='ț').contains(&c) {
        return c;
    }
    FOLD_FROM
        .chars()
        .zip(FOLD_TO.chars())
        .find_map(|(from, to)| (from == c).then_some(to))
        .unwrap_or(c)
}

/// The `to_tsquery` text for a search: its words (runs of letters and
/// digits, folded and lowercased; anything else only separates them), each
/// a prefix, all required. `None` when there is no word. What it returns
/// holds only letters, digits, `:*` and ` & `, so no input can make the
/// query fail to parse.
pub(in crate::store::postgres) fn prefix_query(text: &str) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut len = 0;
    // The trailing space ends the last word.
    for c in text
        .chars()
        .flat_map(|c| fold(c).to_lowercase())
        .chain([' '])
    {
        if c.is_alphanumeric() {
            if len < MAX_WORD_CHARS {
                word.push(c);
                len += 1;
            }
        } else if !word.is_empty() {
            if !words.contains(&word) {
                words.push(word.clone());
            }
            word.clear();
            len = 0;
            if words.len() == MAX_WORDS {
                break;
            }
        }
    }
    if words.is_empty() {
        return None;
    }
    let terms: Vec<String> = words.iter().map(|w| format!("{w}:*")).collect();
    Some(terms.join(" & "))
}
