//! Template functions for images. `picture(image, sizes=…, loading=…)`
//! writes a responsive `<picture>`; `image_variant(image, width=1200)` and
//! `image_url(image, width=1200)` name one fallback file by absolute URL,
//! for OpenGraph and feeds. They read the image items the renderer builds
//! (`{ media, alt, caption, credit, width, height, variants: [{ url, width,
//! height, format }] }`, narrowest first); anything else, an image whose
//! media is gone included, renders as nothing rather than failing a page.

use std::fmt::Write as _;

use minijinja::value::Kwargs;
use minijinja::{Error, ErrorKind, State, Value};

const WEBP: &str = "image/webp";
/// The `<img src>` for browsers without `srcset`: sharp enough for a
/// desktop column, light enough for a phone.
const SRC_WIDTH: u64 = 1024;
/// Wide enough for every social card (1200×630 is the common spec).
const SHARE_WIDTH: u64 = 1200;
const DEFAULT_SIZES: &str = "100vw";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Variant {
    url: String,
    width: u64,
    height: u64,
    format: String,
}

/// The variants of an image item; empty for anything else.
fn variants(image: &Value) -> Vec<Variant> {
    let Ok(list) = image.get_attr("variants").and_then(|v| v.try_iter()) else {
        return Vec::new();
    };
    list.filter_map(|v| {
        let text = |key: &str| {
            v.get_attr(key)
                .ok()
                .and_then(|x| x.as_str().map(str::to_owned))
        };
        let number = |key: &str| v.get_attr(key).ok().and_then(|x| x.as_i64());
        Some(Variant {
            url: text("url")?,
            width: u64::try_from(number("width")?).ok()?,
            height: u64::try_from(number("height")?).ok()?,
            format: text("format")?,
        })
    })
    .collect()
}

/// The fallback (JPEG or PNG) files, or the WebP ones when an image has no
/// fallback.
fn fallbacks(all: &[Variant]) -> Vec<&Variant> {
    let fallback: Vec<&Variant> = all.iter().filter(|v| v.format != WEBP).collect();
    if fallback.is_empty() {
        all.iter().collect()
    } else {
        fallback
    }
}

/// The variant nearest `width`, the wider on a tie.
fn closest<'v>(variants: &[&'v Variant], width: u64) -> Option<&'v Variant> {
    variants
        .iter()
        .copied()
        .min_by_key(|v| (v.width.abs_diff(width), std::cmp::Reverse(v.width)))
}

/// `{{ picture(entry.data.hero, sizes="(min-width: 800px) 760px, 100vw",
/// loading="eager") }}`: WebP for the browsers that take it, the fallback
/// for the rest, and the largest variant's width and height so the page
/// does not shift when it arrives. `loading="eager"` (a hero above the fold)
/// also asks for it first; the default is `lazy`.
pub(super) fn picture(image: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let sizes: Option<String> = kwargs.get("sizes")?;
    let loading: Option<String> = kwargs.get("loading")?;
    kwargs.assert_all_used()?;
    let eager = match loading.as_deref() {
        None | Some("lazy") => false,
        Some("eager") => true,
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("picture: loading must be \"lazy\" or \"eager\" (got {other:?})"),
            ));
        }
    };
    let all = variants(image);
    let Some(largest) = all.iter().max_by_key(|v| v.width) else {
        return Ok(Value::from_safe_string(String::new()));
    };
    let sizes = escape(sizes.as_deref().unwrap_or(DEFAULT_SIZES));
    let webp: Vec<&Variant> = all.iter().filter(|v| v.format == WEBP).collect();
    let fallback = fallbacks(&all);
    let src = closest(&fallback, SRC_WIDTH).unwrap_or(largest);
    let alt = image
        .get_attr("alt")
        .ok()
        .and_then(|a| a.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut html = String::from("<picture>");
    if !webp.is_empty() && webp.len() < all.len() {
        let _ = write!(
            html,
            r#"<source type="{WEBP}" srcset="{}" sizes="{sizes}">"#,
            srcset(&webp)
        );
    }
    let _ = write!(
        html,
        r#"<img src="{}" srcset="{}" sizes="{sizes}" width="{}" height="{}" alt="{}" loading="{}" decoding="async"{}></picture>"#,
        escape(&src.url),
        srcset(&fallback),
        largest.width,
        largest.height,
        escape(&alt),
        if eager { "eager" } else { "lazy" },
        if eager {
            r#" fetchpriority="high""#
        } else {
            ""
        },
    );
    Ok(Value::from_safe_string(html))
}

/// `{{ image_variant(entry.data.hero, width=1200) }}`: the fallback file
/// nearest `width` as `{ url, path, width, height, format }`, `url` being
/// absolute (under `site.base_url`), for `og:image` and its size tags.
/// Undefined when the value is no image.
pub(super) fn image_variant(state: &State, image: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let width: Option<u64> = kwargs.get("width")?;
    kwargs.assert_all_used()?;
    let all = variants(image);
    let Some(v) = closest(&fallbacks(&all), width.unwrap_or(SHARE_WIDTH)) else {
        return Ok(Value::UNDEFINED);
    };
    let base = state
        .lookup("site")
        .and_then(|site| site.get_attr("base_url").ok())
        .and_then(|b| b.as_str().map(|b| b.trim_end_matches('/').to_owned()))
        .unwrap_or_default();
    Ok(minijinja::context! {
        url => format!("{base}{}", v.url),
        path => v.url.clone(),
        width => v.width,
        height => v.height,
        format => v.format.clone(),
    })
}

/// `{{ image_url(entry.data.hero, width=1200) }}`: the absolute URL of
/// `image_variant`; nothing when the value is no image.
pub(super) fn image_url(state: &State, image: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let variant = image_variant(state, image, kwargs)?;
    Ok(variant.get_attr("url").unwrap_or(Value::UNDEFINED))
}

/// `url 320w, url 640w`: a comma or space inside a URL would split a
/// candidate, so they are percent-encoded.
fn srcset(variants: &[&Variant]) -> String {
    let mut sorted = variants.to_vec();
    sorted.sort_by_key(|v| v.width);
    let candidates: Vec<String> = sorted
        .iter()
        .map(|v| {
            let url = v.url.replace(' ', "%20").replace(',', "%2C");
            format!("{} {}w", escape(&url), v.width)
        })
        .collect();
    candidates.join(", ")
}

/// HTML-escapes text for an attribute value or element content. Not
/// minijinja's `HtmlEscape`, which also escapes `/`: every URL of a
/// srcset would become entities, on every page that shows a picture.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use minijinja::context;
    use serde_json::json;

    use super::super::templates::new_environment;

    /// An image item as the renderer builds it: WebP and JPEG at three
    /// widths, the largest 1600×900.
    fn hero(alt: &str) -> minijinja::Value {
        let mut variants = Vec::new();
        for (w, h) in [(320, 180), (1024, 576), (1600, 900)] {
            for (ext, format) in [("webp", "image/webp"), ("jpg", "image/jpeg")] {
                variants.push(json!({
                    "url": format!("/media/ab12/cup-{w}.{ext}"),
                    "width": w, "height": h, "format": format,
                }));
            }
        }
        minijinja::Value::from(minijinja::value::Serde(json!({
            "media": "0190b2a4-7c1e-7d3a-9f00-1234567890ab",
            "alt": alt, "width": 1600, "height": 900, "variants": variants,
        })))
    }

    fn render(source: &str, image: minijinja::Value) -> String {
        let mut env = new_environment();
        env.add_template_owned("t/page.html", source.to_owned())
            .expect("valid template");
        let site = context! { base_url => "https://news.example" };
        env.get_template("t/page.html")
            .and_then(|t| t.render(context! { image, site }))
            .expect("renders")
    }

    #[test]
    fn picture_offers_webp_first_then_the_fallback_with_its_size() {
        let html = render(
            r#"{{ picture(image, sizes="(min-width: 800px) 760px, 100vw") }}"#,
            hero(r#"The "cup" <lifted> & kissed"#),
        );
        assert_eq!(
            html,
            "<picture>\
             <source type=\"image/webp\" srcset=\"/media/ab12/cup-320.webp 320w, \
             /media/ab12/cup-1024.webp 1024w, /media/ab12/cup-1600.webp 1600w\" \
             sizes=\"(min-width: 800px) 760px, 100vw\">\
             <img src=\"/media/ab12/cup-1024.jpg\" srcset=\"/media/ab12/cup-320.jpg 320w, \
             /media/ab12/cup-1024.jpg 1024w, /media/ab12/cup-1600.jpg 1600w\" \
             sizes=\"(min-width: 800px) 760px, 100vw\" width=\"1600\" height=\"900\" \
             alt=\"The &quot;cup&quot; &lt;lifted&gt; &amp; kissed\" loading=\"lazy\" \
             decoding=\"async\"></picture>"
        );
    }

    #[test]
    fn an_eager_picture_is_fetched_first() {
        let html = render(r#"{{ picture(image, loading="eager") }}"#, hero("x"));
        assert!(html.contains(r#"sizes="100vw""#), "default sizes in {html}");
        assert!(
            html.contains(r#"loading="eager" decoding="async" fetchpriority="high">"#),
            "{html}"
        );
        let mut env = new_environment();
        env.add_template_owned("t/x.html", r#"{{ picture(image, loading="soon") }}"#)
            .expect("valid template");
        let err = env
            .get_template("t/x.html")
            .and_then(|t| t.render(context! { image => hero("x") }))
            .expect_err("a bad loading value is a template error");
        assert!(err.to_string().contains("lazy"), "{err}");
    }

    #[test]
    fn no_image_renders_nothing() {
        let source =
            r#"[{{ picture(image) }}|{{ image_url(image) }}|{{ image_variant(image).width }}]"#;
        assert_eq!(render(source, minijinja::Value::UNDEFINED), "[||]");
        let raw =
            minijinja::Value::from(minijinja::value::Serde(json!({"media": "x", "alt": "y"})));
        assert_eq!(render(source, raw), "[||]");
    }

    #[test]
    fn share_urls_are_absolute_fallbacks_nearest_the_width() {
        let source = "{{ image_url(image) }} {% set v = image_variant(image, width=400) %}\
                      {{ v.url }} {{ v.width }}x{{ v.height }} {{ v.format }}";
        assert_eq!(
            render(source, hero("x")),
            "https://news.example/media/ab12/cup-1024.jpg \
             https://news.example/media/ab12/cup-320.jpg 320x180 image/jpeg"
        );
    }
}
