//! Markdown to safe HTML: pulldown-cmark (tables, footnotes, strikethrough)
//! then ammonia, so no script, event handler or `javascript:` URL written
//! by an editor (or pasted from elsewhere) reaches a reader.

use std::sync::LazyLock;

use pulldown_cmark::{Options, Parser, html};

/// ammonia's defaults (a conservative allow-list that drops scripts, event
/// handler attributes and non-http(s)/mailto URL schemes) plus what
/// pulldown-cmark emits for footnotes, tables and task lists.
static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.add_tags(["input", "sup", "section"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .add_tag_attributes("sup", ["class", "id"])
        .add_tag_attributes("div", ["class", "id"])
        .add_tag_attributes("li", ["id"])
        .add_tag_attributes("section", ["class"])
        .add_tag_attributes("td", ["style"])
        .add_tag_attributes("th", ["style"])
        // Tables' column alignment is the only style markdown produces; any
        // other property (position, background: url(..)) could overlay or
        // track the page.
        .filter_style_properties(["text-align"].into())
        .link_rel(Some("noopener noreferrer"));
    b
});

/// Renders Markdown to sanitized HTML.
pub fn to_safe_html(source: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_FOOTNOTES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let parser = Parser::new_ext(source, options);
    let mut raw = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut raw, parser);
    SANITIZER.clean(&raw).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_footnotes_and_strikethrough_render() {
        let html = to_safe_html("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ new[^1]\n\n[^1]: note");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<del>old</del>"), "{html}");
        assert!(html.contains("footnote"), "{html}");
    }

    #[test]
    fn scripts_handlers_and_javascript_urls_are_removed() {
        let attacks = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[click](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<svg onload=alert(1)>",
            "<div style=\"background:url(javascript:alert(1))\">x</div>",
            "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
            "<object data=\"x\"></object>",
            "<table><tr><td style=\"position:fixed;background:url(https://evil/x)\">x</td></tr></table>",
        ];
        for attack in attacks {
            let html = to_safe_html(attack).to_lowercase();
            for bad in [
                "<script",
                "onerror",
                "onload",
                "javascript:",
                "<iframe",
                "<object",
                "style=\"background",
            ] {
                assert!(!html.contains(bad), "{attack:?} left {bad:?} in {html:?}");
            }
        }
    }

    #[test]
    fn ordinary_markup_survives() {
        let html = to_safe_html("## Report\n\n**Bold** and [a link](https://example.com).");
        assert!(html.contains("<h2>Report</h2>"));
        assert!(html.contains("<strong>Bold</strong>"));
        assert!(html.contains("href=\"https://example.com\""));
    }
}
