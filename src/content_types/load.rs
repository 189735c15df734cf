//! Reads a content-types directory and checks it as a whole: folders, TOML,
//! cross-type references, routes and paths, and every template (compiled,
//! with the templates they extend or include). Reports every problem at
//! once; on success hands `ContentTypes` its parts. Runs at start-up and in
//! `keel check`, never on a request path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use minijinja::Environment;
use sha2::{Digest, Sha256};

use super::check::{Problems, TypeDraft, build_type};
use super::files::{Folder, FolderKind, TYPE_FILE, scan, utf8};
use super::model::{ContentType, Listing};
use super::resolve::Catalog;
use super::schema::{RawListing, RawType};
use super::templates::compile_templates;
use crate::model::ContentTypeRecord;

/// One problem in the content-types directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub file: PathBuf,
    /// The content field concerned, when there is one.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(field) = &self.field {
            write!(f, "field {field:?}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Every problem found by one load, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CheckErrors(pub Vec<CheckError>);

impl CheckErrors {
    pub fn errors(&self) -> &[CheckError] {
        &self.0
    }
}

impl fmt::Display for CheckErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// What a successful load produced.
pub(super) struct Loaded {
    pub types: BTreeMap<String, ContentType>,
    pub listings: Vec<Listing>,
    pub records: Vec<ContentTypeRecord>,
    pub env: Environment<'static>,
    pub template_names: BTreeSet<String>,
}

pub(super) fn load(dir: &Path) -> Result<Loaded, CheckErrors> {
    let mut p = Problems::default();
    let Some(folders) = scan(dir, &mut p) else {
        return Err(CheckErrors(p.0));
    };
    let declared: BTreeSet<String> = folders
        .iter()
        .filter(|f| f.kind == FolderKind::Type)
        .map(|f| f.name.clone())
        .collect();
    if declared.is_empty() {
        p.push(
            dir,
            None,
            format!("no content types found: expected folders with a {TYPE_FILE}"),
        );
    }

    let mut drafts = BTreeMap::new();
    for folder in folders.iter().filter(|f| f.kind == FolderKind::Type) {
        if let Some((file, raw)) = parse::<RawType>(folder, &mut p) {
            drafts.insert(
                folder.name.clone(),
                build_type(&folder.name, file, raw, &declared, &mut p),
            );
        }
    }
    let catalog = Catalog {
        drafts: &drafts,
        declared: &declared,
    };
    let related: Vec<_> = drafts
        .values()
        .map(|d| catalog.related(d, &mut p))
        .collect();
    let mut listings = Vec::new();
    for folder in folders.iter().filter(|f| f.kind == FolderKind::Listing) {
        if let Some((file, raw)) = parse::<RawListing>(folder, &mut p)
            && let Some(listing) = catalog.listing(&folder.name, file, raw, &mut p)
        {
            listings.push(listing);
        }
    }
    check_routes(&drafts, &folders, &listings, dir, &mut p);
    let (env, template_names) = compile_templates(&folders, &mut p);
    check_template_choices(&drafts, &listings, &folders, &template_names, &mut p);

    let mut types = BTreeMap::new();
    for (draft, related) in drafts.into_values().zip(related) {
        if let Some(ty) = draft.finish(related) {
            types.insert(ty.name.clone(), ty);
        }
    }
    let records = records(&types, &folders, &mut p);
    if !p.0.is_empty() {
        return Err(CheckErrors(p.0));
    }
    Ok(Loaded {
        types,
        listings,
        records,
        env,
        template_names,
    })
}

/// Parses the folder's schema file, reporting the position of a TOML error.
fn parse<'f, T: serde::de::DeserializeOwned>(
    folder: &'f Folder,
    p: &mut Problems,
) -> Option<(&'f Path, T)> {
    let file = folder.schema()?;
    let text = utf8(file, p)?;
    match toml::from_str::<T>(text) {
        Ok(raw) => Some((&file.path, raw)),
        Err(e) => {
            let at = e
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            p.push(&file.path, None, format!("{at}{}", e.message().trim()));
            None
        }
    }
}

/// Every public path must belong to one type or listing.
fn check_routes(
    drafts: &BTreeMap<String, TypeDraft>,
    folders: &[Folder],
    listings: &[Listing],
    dir: &Path,
    p: &mut Problems,
) {
    let routed: Vec<&TypeDraft> = drafts.values().filter(|d| d.route.is_some()).collect();
    for (i, a) in routed.iter().enumerate() {
        for b in &routed[..i] {
            let (ra, rb) = (a.route.as_ref(), b.route.as_ref());
            if let (Some(ra), Some(rb)) = (ra, rb) {
                if ra == rb {
                    p.push(
                        &a.file,
                        None,
                        format!(
                            "route: {:?} is also the route of type {:?}",
                            ra.as_str(),
                            b.name
                        ),
                    );
                } else if ra.overlaps(rb) {
                    let reason = format!(
                        "route: {:?} overlaps the route {:?} of type {:?} \
                         (some path would match both)",
                        ra.as_str(),
                        rb.as_str(),
                        b.name
                    );
                    p.push(&a.file, None, reason);
                }
            }
        }
    }
    let schema_of = |name: &str| {
        folders
            .iter()
            .find(|f| f.name == name)
            .and_then(Folder::schema)
            .map_or_else(|| dir.to_path_buf(), |s| s.path.clone())
    };
    for (i, listing) in listings.iter().enumerate() {
        let file = schema_of(&listing.name);
        if let Some(other) = listings[..i].iter().find(|l| l.path == listing.path) {
            p.push(
                &file,
                None,
                format!(
                    "path: {:?} is also the path of listing {:?}",
                    listing.path, other.name
                ),
            );
        }
        for draft in &routed {
            if draft
                .route
                .as_ref()
                .is_some_and(|r| r.covers(&listing.path))
            {
                p.push(
                    &file,
                    None,
                    format!(
                        "path: {:?} collides with the route of type {:?}",
                        listing.path, draft.name
                    ),
                );
            }
            // A group's page is a path segment below the listing's.
            let group_route = listing.groups.as_ref().and_then(|_| {
                super::route::Route::parse(&format!(
                    "{}/{{slug}}",
                    listing.path.trim_end_matches('/')
                ))
                .ok()
            });
            if let (Some(groups), Some(route)) = (&group_route, &draft.route)
                && groups.overlaps(route)
            {
                p.push(
                    &file,
                    None,
                    format!(
                        "groups: the pages below {:?} collide with the route of type {:?}",
                        listing.path, draft.name
                    ),
                );
            }
        }
    }
}

fn check_template_choices(
    drafts: &BTreeMap<String, TypeDraft>,
    listings: &[Listing],
    folders: &[Folder],
    names: &BTreeSet<String>,
    p: &mut Problems,
) {
    let mut chosen: Vec<(&str, &str)> = drafts
        .values()
        .map(|d| (d.name.as_str(), d.template.as_str()))
        .collect();
    chosen.extend(
        listings
            .iter()
            .map(|l| (l.name.as_str(), l.template.as_str())),
    );
    for (folder_name, template) in chosen {
        let Some(folder) = folders.iter().find(|f| f.name == folder_name) else {
            continue;
        };
        let Some(schema) = folder.schema() else {
            continue;
        };
        let rel = template
            .strip_prefix(&format!("{folder_name}/"))
            .unwrap_or(template);
        if !names.contains(template) && !rel.split('/').any(|s| s == ".." || s.is_empty()) {
            p.push(
                &schema.path,
                None,
                format!("template: {rel:?} not found in folder {folder_name:?}"),
            );
        }
    }
}

/// Schema JSON plus a hash over the type's folder and the shared folders,
/// whose templates every page may extend.
fn records(
    types: &BTreeMap<String, ContentType>,
    folders: &[Folder],
    p: &mut Problems,
) -> Vec<ContentTypeRecord> {
    let shared: Vec<&Folder> = folders
        .iter()
        .filter(|f| f.kind == FolderKind::Shared)
        .collect();
    let mut out = Vec::new();
    for ty in types.values() {
        let own = folders.iter().find(|f| f.name == ty.name);
        let mut hasher = Sha256::new();
        for folder in own.into_iter().chain(shared.iter().copied()) {
            for file in &folder.files {
                // Length-prefixed parts keep ("ab","c") and ("a","bc") apart.
                let name = format!("{}/{}", folder.name, file.rel);
                hasher.update((name.len() as u64).to_le_bytes());
                hasher.update(name.as_bytes());
                hasher.update((file.bytes.len() as u64).to_le_bytes());
                hasher.update(&file.bytes);
            }
        }
        match serde_json::to_value(ty) {
            Ok(schema) => out.push(ContentTypeRecord {
                name: ty.name.clone(),
                schema,
                hash: hex::encode(hasher.finalize()),
            }),
            Err(e) => {
                let file = own
                    .and_then(Folder::schema)
                    .map_or_else(|| PathBuf::from(&ty.name), |s| s.path.clone());
                p.push(
                    &file,
                    None,
                    format!("schema cannot be described as JSON: {e}"),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
