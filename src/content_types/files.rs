//! The files of a content-types directory: which folders are types,
//! listings or shared templates, and every file below them, read once. Knows
//! nothing of TOML or templates; only reports what it cannot read.

use std::path::{Path, PathBuf};

use super::check::Problems;
use super::field::check_name;

pub const TYPE_FILE: &str = "type.toml";
pub const LISTING_FILE: &str = "listing.toml";
/// Symlinked folders could loop; real layouts are two or three levels deep.
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FolderKind {
    Type,
    Listing,
    Shared,
}

/// A file below a folder; `rel` uses `/` whatever the platform.
pub(super) struct SourceFile {
    pub rel: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

pub(super) struct Folder {
    pub name: String,
    pub kind: FolderKind,
    pub files: Vec<SourceFile>,
}

impl Folder {
    pub fn schema(&self) -> Option<&SourceFile> {
        let wanted = match self.kind {
            FolderKind::Type => TYPE_FILE,
            FolderKind::Listing => LISTING_FILE,
            FolderKind::Shared => return None,
        };
        self.files.iter().find(|f| f.rel == wanted)
    }

    pub fn templates(&self) -> impl Iterator<Item = &SourceFile> {
        let schema = self.schema().map(|s| s.rel.as_str());
        self.files
            .iter()
            .filter(move |f| Some(f.rel.as_str()) != schema)
    }
}

/// Lists the folders (in name order) with every file below them.
/// `None` when the directory itself cannot be read.
pub(super) fn scan(dir: &Path, p: &mut Problems) -> Option<Vec<Folder>> {
    let entries = match list_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            p.push(
                dir,
                None,
                format!("cannot read the content-types directory: {e}"),
            );
            return None;
        }
    };
    let mut folders = Vec::new();
    for (name, path) in entries {
        // Top-level files (a README) are not content; hidden entries include
        // the `..data` links of Kubernetes volume mounts.
        if name.starts_with('.') || !path.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        collect_files(&path, "", 0, &mut files, p);
        let has = |file: &str| files.iter().any(|f| f.rel == file);
        let kind = if name.starts_with('_') {
            FolderKind::Shared
        } else {
            if let Err(e) = check_name(&name) {
                p.push(&path, None, format!("folder name: {e}"));
                continue;
            }
            match (has(TYPE_FILE), has(LISTING_FILE)) {
                (true, false) => FolderKind::Type,
                (false, true) => FolderKind::Listing,
                (true, true) => {
                    let reason = format!(
                        "has both {TYPE_FILE} and {LISTING_FILE}; a folder is one type or one listing"
                    );
                    p.push(&path, None, reason);
                    continue;
                }
                (false, false) => {
                    let reason = format!(
                        "has neither {TYPE_FILE} nor {LISTING_FILE} \
                         (folders of shared templates start with '_')"
                    );
                    p.push(&path, None, reason);
                    continue;
                }
            }
        };
        if kind != FolderKind::Shared {
            for f in files
                .iter()
                .filter(|f| !f.rel.contains('/') && f.rel.ends_with(".toml"))
            {
                if f.rel != TYPE_FILE && f.rel != LISTING_FILE {
                    p.push(
                        &f.path,
                        None,
                        format!("unexpected file: only {TYPE_FILE} or {LISTING_FILE} is read here"),
                    );
                }
            }
        }
        folders.push(Folder { name, kind, files });
    }
    Some(folders)
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        entries.push((name, entry.path()));
    }
    entries.sort();
    Ok(entries)
}

fn collect_files(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<SourceFile>,
    p: &mut Problems,
) {
    if depth > MAX_DEPTH {
        p.push(
            dir,
            None,
            format!("nested more than {MAX_DEPTH} folders deep"),
        );
        return;
    }
    let entries = match list_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return p.push(dir, None, format!("cannot read folder: {e}")),
    };
    for (name, path) in entries {
        if name.starts_with('.') {
            continue;
        }
        let rel = format!("{prefix}{name}");
        if path.is_dir() {
            collect_files(&path, &format!("{rel}/"), depth + 1, out, p);
            continue;
        }
        match std::fs::read(&path) {
            Ok(bytes) => out.push(SourceFile { rel, path, bytes }),
            Err(e) => p.push(&path, None, format!("cannot read file: {e}")),
        }
    }
}

pub(super) fn utf8<'f>(file: &'f SourceFile, p: &mut Problems) -> Option<&'f str> {
    std::str::from_utf8(&file.bytes)
        .map_err(|e| p.push(&file.path, None, format!("not valid UTF-8: {e}")))
        .ok()
}
