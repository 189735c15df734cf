//! The `serve` flags of the outbox's destinations: the edges keel purges
//! (`--edge-purge KIND:TARGET`, repeatable) with the API tokens they need,
//! and the webhooks file. Checked into [`EdgePurge`]s and [`Webhook`]s: a
//! misspelt kind, a malformed target, a missing token or a short secret
//! stops the start with a message naming it.

use std::time::Duration;

use clap::Args as ClapArgs;
use url::Url;

use crate::config::{EdgePurge, Webhook};

#[derive(Debug, ClapArgs)]
pub struct EdgeArgs {
    /// An edge to purge by surrogate key after every change, once every node holds it (repeatable, or comma-separated in the variable): varnish:http://HOST:PORT (xkey soft purge, see deploy/varnish/keel.vcl), varnish-hard:URL, fastly:SERVICE_ID, cloudflare:ZONE_ID.
    #[arg(long = "edge-purge", env = "KEEL_EDGE_PURGE", value_delimiter = ',', value_parser = parse_target)]
    pub edge_purge: Vec<PurgeTarget>,
    /// Fastly API token allowed to purge (purge_select), for fastly: targets.
    #[arg(long, env = "KEEL_FASTLY_API_TOKEN", hide_env_values = true)]
    pub fastly_api_token: Option<String>,
    /// Fastly's API origin.
    #[arg(
        long,
        env = "KEEL_FASTLY_API_URL",
        default_value = "https://api.fastly.com"
    )]
    pub fastly_api_url: Url,
    /// Cloudflare API token with the Cache Purge permission, for cloudflare: targets.
    #[arg(long, env = "KEEL_CLOUDFLARE_API_TOKEN", hide_env_values = true)]
    pub cloudflare_api_token: Option<String>,
    /// Cloudflare's API base.
    #[arg(
        long,
        env = "KEEL_CLOUDFLARE_API_URL",
        default_value = "https://api.cloudflare.com/client/v4"
    )]
    pub cloudflare_api_url: Url,
    /// Longest wait for every live node to hold a change before its purge goes out anyway (counted in keel_outbox_forced_total), e.g. `5s`.
    #[arg(long, env = "KEEL_PURGE_WAIT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub purge_wait: Duration,
    /// A TOML file of webhooks ([[webhook]] name, url, secret or secret_env), each sent every change, signed (see README).
    #[arg(long, env = "KEEL_WEBHOOKS")]
    pub webhooks: Option<std::path::PathBuf>,
    /// This node's name in heartbeats and leases; defaults to HOST:PORT.
    #[arg(long, env = "KEEL_NODE_NAME")]
    pub node_name: Option<String>,
}

/// `--edge-purge` as given: a known kind and a well-formed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeTarget {
    Varnish { url: Url, hard: bool },
    Fastly(String),
    Cloudflare(String),
}

impl EdgeArgs {
    /// The edges to purge, each with the token its API needs.
    pub fn purges(&self) -> Result<Vec<EdgePurge>, String> {
        let token = |token: &Option<String>, kind: &str, flag: &str, var: &str| {
            token
                .clone()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| format!("{kind}: targets need an API token: set {flag} or {var}"))
        };
        let mut purges = Vec::new();
        for target in &self.edge_purge {
            let purge = match target {
                PurgeTarget::Varnish { url, hard } => EdgePurge::Varnish {
                    url: url.clone(),
                    hard: *hard,
                },
                PurgeTarget::Fastly(service) => EdgePurge::Fastly {
                    service: service.clone(),
                    api: self.fastly_api_url.clone(),
                    token: token(
                        &self.fastly_api_token,
                        "fastly",
                        "--fastly-api-token",
                        "KEEL_FASTLY_API_TOKEN",
                    )?,
                },
                PurgeTarget::Cloudflare(zone) => EdgePurge::Cloudflare {
                    zone: zone.clone(),
                    api: self.cloudflare_api_url.clone(),
                    token: token(
                        &self.cloudflare_api_token,
                        "cloudflare",
                        "--cloudflare-api-token",
                        "KEEL_CLOUDFLARE_API_TOKEN",
                    )?,
                },
            };
            if purges.iter().any(|p: &EdgePurge| p.name() == purge.name()) {
                return Err(format!("--edge-purge {} is given twice", purge.name()));
            }
            purges.push(purge);
        }
        Ok(purges)
    }
}

/// The webhooks file: `[[webhook]]` tables.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    #[serde(default)]
    webhook: Vec<RawWebhook>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: String,
    url: String,
    secret: Option<String>,
    /// The environment variable holding the secret (kept out of the file).
    secret_env: Option<String>,
}

impl EdgeArgs {
    /// The webhooks of `--webhooks`, checked; none without the flag.
    pub fn webhooks(&self) -> Result<Vec<Webhook>, String> {
        let Some(path) = &self.webhooks else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--webhooks {}: {e}", path.display()))?;
        parse_webhooks(&text, |var| std::env::var(var).ok())
            .map_err(|e| format!("--webhooks {}: {e}", path.display()))
    }
}

fn parse_webhooks(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Webhook>, String> {
    let file: WebhookFile = toml::from_str(text).map_err(|e| e.message().trim().to_owned())?;
    let mut hooks: Vec<Webhook> = Vec::new();
    for raw in file.webhook {
        let name = raw.name;
        let named = |what: String| format!("webhook {name:?}: {what}");
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok_name {
            return Err(named("a name is 1 to 64 of a-z, 0-9 and -".into()));
        }
        if hooks.iter().any(|h| h.name == name) {
            return Err(named("the name is used twice".into()));
        }
        let url = Url::parse(&raw.url).map_err(|e| named(format!("url {:?}: {e}", raw.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(named(format!(
                "url {:?} must be http:// or https:// with a host",
                raw.url
            )));
        }
        let secret = match (raw.secret, raw.secret_env) {
            (Some(secret), None) => secret,
            (None, Some(var)) => {
                env(&var).ok_or_else(|| named(format!("secret_env {var:?} is not set")))?
            }
            _ => return Err(named("give exactly one of secret and secret_env".into())),
        };
        if secret.len() < Webhook::MIN_SECRET {
            return Err(named(format!(
                "the secret is {} bytes; at least {} are needed (an HMAC-SHA256 key shorter than the hash weakens it)",
                secret.len(),
                Webhook::MIN_SECRET
            )));
        }
        hooks.push(Webhook { name, url, secret });
    }
    Ok(hooks)
}

fn parse_target(raw: &str) -> Result<PurgeTarget, String> {
    let raw = raw.trim();
    let Some((kind, target)) = raw.split_once(':') else {
        return Err(format!(
            "{raw:?} is not KIND:TARGET (e.g. varnish:http://127.0.0.1:6081)"
        ));
    };
    match kind {
        "varnish" | "varnish-hard" => {
            let url =
                Url::parse(target).map_err(|e| format!("{raw:?}: {target:?} is not a URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!(
                    "{raw:?}: the Varnish URL must be http:// or https:// with a host"
                ));
            }
            Ok(PurgeTarget::Varnish {
                url,
                hard: kind == "varnish-hard",
            })
        }
        "fastly" => {
            let ok = !target.is_empty() && target.bytes().all(|b| b.is_ascii_alphanumeric());
            if !ok {
                return Err(format!(
                    "{raw:?}: a Fastly service id is letters and digits"
                ));
            }
            Ok(PurgeTarget::Fastly(target.to_owned()))
        }
        "cloudflare" => {
            let ok = target.len() == 32 && target.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(format!(
                    "{raw:?}: a Cloudflare zone id is 32 hexadecimal digits"
                ));
            }
            Ok(PurgeTarget::Cloudflare(target.to_ascii_lowercase()))
        }
        other => Err(format!(
            "unknown purge kind {other:?} in {raw:?} (expected varnish, varnish-hard, fastly or cloudflare)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        edge: EdgeArgs,
    }

    fn purges(argv: &[&str]) -> Result<Vec<EdgePurge>, String> {
        let mut all = vec!["keel"];
        all.extend_from_slice(argv);
        let cli = Cli::try_parse_from(all).map_err(|e| e.to_string())?;
        cli.edge.purges()
    }

    #[test]
    fn every_kind_parses_with_what_it_needs() {
        let zone = "0123456789abcdef0123456789ABCDEF";
        let got = purges(&[
            "--edge-purge",
            "varnish:http://127.0.0.1:6081",
            "--edge-purge",
            "varnish-hard:http://edge.internal",
            "--edge-purge",
            "fastly:SU1Z0isxPaozGVKXdv0eY",
            "--fastly-api-token",
            "f-token",
            "--edge-purge",
            &format!("cloudflare:{zone}"),
            "--cloudflare-api-token",
            "c-token",
        ])
        .unwrap();
        let names: Vec<String> = got.iter().map(EdgePurge::name).collect();
        assert_eq!(
            names,
            [
                "varnish:http://127.0.0.1:6081/",
                "varnish-hard:http://edge.internal/",
                "fastly:SU1Z0isxPaozGVKXdv0eY",
                "cloudflare:0123456789abcdef0123456789abcdef",
            ]
        );
        assert!(!format!("{got:?}").contains("token"), "no secret in Debug");
    }

    #[test]
    fn webhooks_are_read_with_their_secrets_checked() {
        let env = |var: &str| (var == "HOOK_SECRET").then(|| "s".repeat(40));
        let text = r#"
            [[webhook]]
            name = "search"
            url = "https://search.internal/hooks/keel"
            secret_env = "HOOK_SECRET"

            [[webhook]]
            name = "audit-log"
            url = "http://10.0.0.9:9000/"
            secret = "0123456789abcdef0123456789abcdef"
        "#;
        let hooks = parse_webhooks(text, env).unwrap();
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0].secret.len(), 40);
        assert!(
            !format!("{hooks:?}").contains("0123456789abcdef"),
            "no secret in Debug"
        );
        let hook =
            |body: &str| format!("[[webhook]]\nname = \"h\"\nurl = \"https://x.test/\"\n{body}");
        for (text, needle) in [
            (
                hook("secret = \"short\""),
                "the secret is 5 bytes; at least 32",
            ),
            (
                hook("secret_env = \"UNSET\""),
                "secret_env \"UNSET\" is not set",
            ),
            (hook(""), "exactly one of secret and secret_env"),
            (hook("secret = \"x\"\nextra = 1"), "unknown field `extra`"),
            (
                "[[webhook]]\nname = \"Bad Name\"\nurl = \"https://x.test/\"\nsecret = \"x\""
                    .into(),
                "a name is 1 to 64",
            ),
            (
                "[[webhook]]\nname = \"h\"\nurl = \"ftp://x\"\nsecret = \"x\"".into(),
                "must be http:// or https://",
            ),
        ] {
            let err = parse_webhooks(&text, env).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn bad_targets_are_refused_with_what_is_wrong() {
        for (argv, needle) in [
            (
                vec!["--edge-purge", "akamai:http://x"],
                "unknown purge kind \"akamai\"",
            ),
            (vec!["--edge-purge", "varnish"], "is not KIND:TARGET"),
            (
                vec!["--edge-purge", "varnish:ftp://x"],
                "must be http:// or https://",
            ),
            (vec!["--edge-purge", "varnish:not a url"], "is not a URL"),
            (
                vec!["--edge-purge", "fastly:a/b", "--fastly-api-token", "t"],
                "letters and digits",
            ),
            (
                vec![
                    "--edge-purge",
                    "cloudflare:abc",
                    "--cloudflare-api-token",
                    "t",
                ],
                "32 hexadecimal",
            ),
            (
                vec!["--edge-purge", "fastly:svc"],
                "set --fastly-api-token or KEEL_FASTLY_API_TOKEN",
            ),
            (
                vec![
                    "--edge-purge",
                    "varnish:http://a",
                    "--edge-purge",
                    "varnish:http://a/",
                ],
                "given twice",
            ),
        ] {
            let err = purges(&argv).unwrap_err();
            assert!(err.contains(needle), "{argv:?}: {err}");
        }
    }
}
