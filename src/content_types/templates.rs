//! The minijinja environment every page is rendered with: all templates of
//! the content-types directory under `<folder>/<file>` names, HTML
//! auto-escaping by file name, and the filters and functions templates may
//! use. Built and
//! checked once at load; compiling here is what catches syntax errors.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use minijinja::{
    AutoEscape, Environment, Error, Output, State, UndefinedBehavior, Value, escape_formatter,
};

use super::check::Problems;
use super::files::{Folder, utf8};

/// Format of the `datetime` filter when a template gives none.
pub const DEFAULT_DATETIME_FORMAT: &str = "%a %-d %b %Y, %H:%M %Z";

/// A fresh environment with keel's settings and filters, no templates yet.
pub(super) fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Optional fields may be absent: `entry.data.venue.name` then renders
    // as nothing instead of failing a publish. The default auto-escape
    // callback already escapes `.html`/`.htm`/`.xml` names.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_formatter(format_value);
    env.add_filter("datetime", datetime_filter);
    // The key of a group's page: `/competitions/{{ c | token }}`.
    env.add_filter("token", |value: &str| super::value_token(value));
    env.add_function("picture", super::picture::picture);
    env.add_function("image_variant", super::picture::image_variant);
    env.add_function("image_url", super::picture::image_url);
    env
}

/// Prints `none` as nothing, like undefined, and escapes HTML without
/// minijinja's extra escaping of `/`: inside quoted attributes and text it
/// protects nothing, and every URL would otherwise read `&#x2f;teams&#x2f;x`.
fn format_value(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(());
    }
    if state.auto_escape() != &AutoEscape::Html || value.is_safe() {
        return escape_formatter(out, state, value);
    }
    let text = match value.as_str() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(value.to_string()),
    };
    let mut rest: &str = &text;
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        out.write_str(&rest[..i])?;
        out.write_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#x27;",
        })?;
        rest = &rest[i + 1..];
    }
    out.write_str(rest)?;
    Ok(())
}

/// `{{ entry.data.kickoff | datetime }}` or `| datetime("%H:%M")`: formats
/// an RFC 3339 string in the site's time zone (the global `time_zone` the
/// renderer sets from the site's settings; UTC without one, or with a
/// zone given as the second argument). `%Z` names the zone (`BST`).
/// Anything else renders unchanged (undefined as nothing), and a bad
/// format string falls back to the default.
fn datetime_filter(
    state: &minijinja::State,
    value: Value,
    format: Option<String>,
    zone: Option<String>,
) -> String {
    let Some(text) = value.as_str() else {
        return if value.is_undefined() || value.is_none() {
            String::new()
        } else {
            value.to_string()
        };
    };
    let Ok(at) = DateTime::parse_from_rfc3339(text) else {
        return text.to_owned();
    };
    let zone = zone
        .or_else(|| {
            state
                .lookup("time_zone")
                .and_then(|v| v.as_str().map(str::to_owned))
        })
        .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
        .unwrap_or(chrono_tz::UTC);
    let at = at.with_timezone(&Utc).with_timezone(&zone);
    let mut out = String::new();
    let format = format.as_deref().unwrap_or(DEFAULT_DATETIME_FORMAT);
    // chrono reports an invalid specifier as a fmt::Error (and would panic
    // inside `to_string`), so write and fall back instead.
    if write!(out, "{}", at.format(format)).is_err() {
        out.clear();
        let _ = write!(out, "{}", at.format(DEFAULT_DATETIME_FORMAT));
    }
    out
}

/// Template names a source refers to with a string literal in `extends`,
/// `include`, `import` or `from`, with their 1-based line. Dynamic names and
/// `include ... ignore missing` are not listed: they cannot be checked here.
pub(super) fn referenced_templates(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    let mut in_raw = false;
    while let Some(start) = [rest.find("{%"), rest.find("{#")]
        .into_iter()
        .flatten()
        .min()
    {
        let is_comment = rest[start..].starts_with("{#");
        let close = if is_comment { "#}" } else { "%}" };
        let Some(len) = rest[start + 2..].find(close) else {
            break;
        };
        let body = &rest[start + 2..start + 2 + len];
        let line = source[..offset + start].matches('\n').count() + 1;
        if !is_comment {
            let tag = body.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
            let mut words = tag.split_whitespace();
            let keyword = words.next().unwrap_or_default();
            if in_raw {
                in_raw = keyword != "endraw";
            } else if keyword == "raw" {
                in_raw = true;
            } else if matches!(keyword, "extends" | "include" | "import" | "from")
                && !tag.contains("ignore missing")
                && let Some(name) = string_literal(tag[keyword.len()..].trim_start())
            {
                found.push((line, name.to_owned()));
            }
        }
        let consumed = start + 2 + len + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    found
}

/// The content of a leading `"..."` or `'...'` literal without escapes.
fn string_literal(s: &str) -> Option<&str> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = &s[1..];
    let end = inner.find(quote)?;
    let name = &inner[..end];
    (!name.contains('\\')).then_some(name)
}

/// Compiles every template into one environment (syntax errors), then checks
/// that the templates they name by literal exist.
pub(super) fn compile_templates(
    folders: &[Folder],
    p: &mut Problems,
) -> (Environment<'static>, BTreeSet<String>) {
    let mut env = new_environment();
    let mut names = BTreeSet::new();
    let mut sources = Vec::new();
    for folder in folders {
        for file in folder.templates() {
            let name = format!("{}/{}", folder.name, file.rel);
            names.insert(name.clone());
            let Some(source) = utf8(file, p) else {
                continue;
            };
            match env.add_template_owned(name.clone(), source.to_owned()) {
                Ok(()) => sources.push((file, source)),
                Err(e) => p.push(&file.path, None, format!("template error: {e}")),
            }
        }
    }
    for (file, source) in sources {
        for (line, target) in referenced_templates(source) {
            if !names.contains(&target) {
                p.push(
                    &file.path,
                    None,
                    format!("line {line}: refers to template {target:?}, which does not exist"),
                );
            }
        }
    }
    (env, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_static_references_with_lines() {
        let src = "{% extends \"_site/base.html\" %}\n{# {% include 'x.html' %} #}\n\
                   {%- include 'match/row.html' -%}\n{% raw %}{% include 'no.html' %}{% endraw %}\n\
                   {% import \"_site/macros.html\" as m %}{% from '_site/m.html' import a %}\n\
                   {% include name %}{% include 'gone.html' ignore missing %}";
        assert_eq!(
            referenced_templates(src),
            vec![
                (1, "_site/base.html".to_owned()),
                (3, "match/row.html".to_owned()),
                (5, "_site/macros.html".to_owned()),
                (5, "_site/m.html".to_owned()),
            ]
        );
    }

    fn render(env: &Environment<'static>, template: &str, v: Value) -> String {
        env.render_str(template, minijinja::context! { v }).unwrap()
    }

    #[test]
    fn datetime_filter_formats_and_degrades() {
        let env = new_environment();
        let v = Value::from("2026-03-14T17:00:00+02:00");
        assert_eq!(
            render(&env, "{{ v | datetime }}", v.clone()),
            "Sat 14 Mar 2026, 15:00 UTC"
        );
        assert_eq!(
            render(&env, "{{ v | datetime('%H:%M') }}", v.clone()),
            "15:00"
        );
        assert_eq!(
            render(&env, "{{ v | datetime('%Q') }}", v.clone()),
            "Sat 14 Mar 2026, 15:00 UTC"
        );
        assert_eq!(
            render(&env, "{{ v | datetime }}", Value::from("tbc")),
            "tbc"
        );
        assert_eq!(render(&env, "{{ v | datetime }}", Value::UNDEFINED), "");
        assert_eq!(
            render(
                &env,
                "{{ v | datetime('%H:%M %Z', 'Asia/Tokyo') }}",
                v.clone()
            ),
            "00:00 JST"
        );
    }

    #[test]
    fn datetime_filter_shows_the_sites_time_zone() {
        let mut env = new_environment();
        env.add_global("time_zone", "Europe/London");
        let winter = Value::from("2026-03-14T15:00:00Z");
        let summer = Value::from("2026-07-01T14:00:00Z");
        assert_eq!(
            render(&env, "{{ v | datetime('%H:%M %Z') }}", winter),
            "15:00 GMT"
        );
        assert_eq!(
            render(&env, "{{ v | datetime('%H:%M %Z') }}", summer),
            "15:00 BST"
        );
    }

    #[test]
    fn html_templates_escape_and_undefined_chains() {
        let mut env = new_environment();
        let source = "{{ x }}|{{ a.b.c }}|{{ s }}|{{ n }}|<a href=\"{{ u }}\">|{{ 3 }}";
        env.add_template_owned("t/page.html", source)
            .expect("valid template");
        env.add_template_owned("t/page.txt", "{{ x }}")
            .expect("valid template");
        let ctx = minijinja::context! {
            x => "<b>'&'",
            s => Value::from_safe_string("<i>ok</i>".into()),
            n => Value::from(()),
            u => "/teams/a\"b",
        };
        let render = |name: &str| {
            env.get_template(name)
                .and_then(|t| t.render(ctx.clone()))
                .expect("renders")
        };
        assert_eq!(
            render("t/page.html"),
            "&lt;b&gt;&#x27;&amp;&#x27;||<i>ok</i>||<a href=\"/teams/a&quot;b\">|3"
        );
        assert_eq!(render("t/page.txt"), "<b>'&'");
    }
}
