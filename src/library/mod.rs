//! The media library: an upload checked, turned into its variants off the
//! request threads (bounded by the render slots, like a publish), and
//! stored with the pages that serve them in one write; images described,
//! listed, deleted while nothing live shows them, and collected by an
//! explicit cleanup. Nothing here speaks HTTP.
//!
//! Variants are ordinary pages at content-hashed paths, so the front, the
//! cache, the event follower, ETags and purges serve them unchanged; their
//! policy is `immutable` for a year, since the bytes at a path never change.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::content_types::FieldError;
use crate::error::{AppError, Referrer};
use crate::media::{self, Crop, FocalPoint, Format, Limits, MediaError, Variant};
use crate::model::{
    CachePolicy, Media, MediaChange, MediaId, MediaQuery, MediaVariant, NewMedia, Page, PageWrite,
    page_key,
};
use crate::publish::PageSink;
use crate::render::etag_of;
use crate::store::{MediaDeletion, NewEvent, Store, StoreError};

/// The kind of event an upload or a delete appends.
pub const MEDIA_EVENT: &str = "media";
/// A year: what RFC 9111 implementations treat as "forever" for a
/// content-hashed URL.
pub const MEDIA_MAX_AGE: u32 = 31_536_000;
/// Longest alt text: a sentence or two; longer belongs in the caption.
pub const MAX_ALT: usize = 500;
pub const MAX_CAPTION: usize = 1000;
pub const MAX_CREDIT: usize = 200;
/// Longest name in a variant's path, in characters.
const MAX_NAME: usize = 60;
/// Largest side of a crop's aspect ratio (`21:9` is plenty; `1000:1` is a
/// typo that would make a sliver).
const MAX_ASPECT: u32 = 100;
/// Images looked at by one cleanup, at most: a run bounded in time, and a
/// newsroom's daily uploads fit many times over.
const CLEANUP_SCAN: u32 = 10_000;
/// Ids per draft check.
const DRAFT_CHECK_BATCH: usize = 500;

/// The surrogate key of every page of one image.
pub fn media_key(id: MediaId) -> String {
    format!("media:{id}")
}

/// Uploads, descriptions and deletes of images over one store.
#[derive(Clone)]
pub struct Library {
    store: Arc<dyn Store>,
    /// This node's cache, told of variant pages as they commit (other
    /// nodes learn of them from the event log).
    sink: Option<Arc<dyn PageSink>>,
    /// Shared with the publisher: an upload's decode and encodes queue
    /// behind renders instead of starving the runtime's blocking pool.
    slots: Arc<Semaphore>,
    limits: Limits,
}

/// An upload as the API received it.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub bytes: bytes::Bytes,
    /// The file's name as the client gave it; only its stem is used, for
    /// the variants' paths (never to guess the format).
    pub file_name: Option<String>,
    pub alt: String,
    pub caption: Option<String>,
    pub credit: Option<String>,
    /// Where the subject is, as fractions of width and height.
    pub focal: Option<(f32, f32)>,
    /// Crop every variant to this aspect ratio (`16:9`) around the focal
    /// point (the centre without one).
    pub aspect: Option<(u32, u32)>,
}

/// What an upload did.
#[derive(Debug, Clone)]
pub enum Uploaded {
    Created(Media),
    /// The same bytes (and crop) were uploaded before: that image, as it
    /// was; its description is not changed by the second upload.
    Existing(Media),
}

/// What a cleanup deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Cleanup {
    pub deleted: Vec<Media>,
    /// Unused by anything live, but named by a draft or a pending change.
    pub spared: Vec<MediaId>,
    pub dry_run: bool,
}

impl Library {
    pub fn new(
        store: Arc<dyn Store>,
        sink: Option<Arc<dyn PageSink>>,
        slots: Arc<Semaphore>,
        limits: Limits,
    ) -> Library {
        Library {
            store,
            sink,
            slots,
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks the upload, makes its variants and stores it with their
    /// pages, or returns the image these bytes already are.
    pub async fn upload(&self, upload: Upload, author: &str) -> Result<Uploaded, AppError> {
        check_description(
            Some(&upload.alt),
            upload.caption.as_deref(),
            upload.credit.as_deref(),
            upload.focal,
        )?;
        let crop = upload
            .aspect
            .map(|aspect| crop_of(aspect, upload.focal))
            .transpose()?;
        let bytes = upload.bytes.clone();
        let limits = self.limits.clone();
        // Sniffing and hashing 20 MB is milliseconds, not microseconds.
        let source = self
            .blocking(move || media::inspect(&bytes, &limits))
            .await??;
        let hash = match &crop {
            Some(crop) => cropped_hash(&source.hash, crop),
            None => source.hash.clone(),
        };
        if let Some(existing) = self.store.media_by_hash(&hash).await? {
            return Ok(Uploaded::Existing(existing));
        }
        let (bytes, limits) = (upload.bytes.clone(), self.limits.clone());
        let (source, variants) = self
            .blocking(move || media::variants(&bytes, &limits, crop))
            .await??;
        let id = MediaId::now_v7();
        let name = name_of(upload.file_name.as_deref());
        let now = Utc::now();
        let (rows, pages) = variant_pages(id, &hash, &name, variants, now);
        let new = NewMedia {
            id,
            hash: hash.clone(),
            name,
            alt: upload.alt.trim().to_owned(),
            caption: tidy(upload.caption),
            credit: tidy(upload.credit),
            focal: upload.focal,
            format: source.format.mime().to_owned(),
            width: source.width,
            height: source.height,
            original: upload.bytes.to_vec(),
            created_by: author.to_owned(),
        };
        let event = NewEvent {
            kind: MEDIA_EVENT.into(),
            paths: rows.iter().map(|v| v.path.clone()).collect(),
            keys: std::iter::once(media_key(id))
                .chain(rows.iter().map(|v| page_key(&v.path)))
                .collect(),
            entries: Vec::new(),
        };
        let paths: Vec<&str> = rows.iter().map(|v| v.path.as_str()).collect();
        let mut local = self.sink.as_ref().and_then(|sink| sink.begin(&paths));
        match self.store.create_media(&new, &rows, &pages, event).await {
            Ok((media, seq)) => {
                self.applied(pages.into_iter().map(PageWrite::Upsert).collect(), seq)
                    .await;
                if let Some(local) = &mut local {
                    local.committed(Some(seq));
                }
                Ok(Uploaded::Created(media))
            }
            // Two uploads of the same file raced: the other one won.
            Err(StoreError::Duplicate(_)) => match self.store.media_by_hash(&hash).await? {
                Some(existing) => Ok(Uploaded::Existing(existing)),
                None => Err(AppError::Conflict(
                    "the same image was being uploaded and deleted at once; try again".into(),
                )),
            },
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, id: MediaId) -> Result<Media, AppError> {
        self.store.media(id).await?.ok_or_else(|| not_found(id))
    }

    pub async fn list(&self, query: &MediaQuery) -> Result<Vec<Media>, AppError> {
        Ok(self.store.media_list(query).await?)
    }

    /// Changes the library's description of an image. Pages already
    /// published keep the alt text, caption and credit their entries gave
    /// it (an image field carries its own), so nothing is re-rendered.
    pub async fn update(&self, id: MediaId, change: &MediaChange) -> Result<Media, AppError> {
        check_description(
            change.alt.as_deref(),
            change.caption.as_ref().and_then(|c| c.as_deref()),
            change.credit.as_ref().and_then(|c| c.as_deref()),
            change.focal.flatten(),
        )?;
        let change = MediaChange {
            alt: change.alt.as_ref().map(|a| a.trim().to_owned()),
            caption: change.caption.clone().map(tidy),
            credit: change.credit.clone().map(tidy),
            focal: change.focal,
        };
        match self.store.update_media(id, &change).await {
            Err(StoreError::NotFound) => Err(not_found(id)),
            other => Ok(other?),
        }
    }

    /// Deletes the image and its pages, unless a published entry shows it
    /// (`409` naming them).
    pub async fn delete(&self, id: MediaId) -> Result<Media, AppError> {
        let media = self.get(id).await?;
        match self.delete_media(&media).await? {
            None => Ok(media),
            Some(users) => {
                let referrers: Vec<Referrer> = self
                    .store
                    .entries_by_ids(&users)
                    .await?
                    .into_iter()
                    .map(Referrer::published)
                    .collect();
                Err(AppError::Referenced {
                    detail: format!(
                        "image {id} is shown by {}; replace or remove it there first",
                        Referrer::describe(&referrers)
                    ),
                    referrers,
                })
            }
        }
    }

    /// `None` once deleted (its pages leave this node's cache at once and
    /// the others' with the event); `Some(users)` if published entries
    /// show it.
    async fn delete_media(
        &self,
        media: &Media,
    ) -> Result<Option<Vec<crate::model::EntryId>>, AppError> {
        let paths: Vec<String> = media.variants.iter().map(|v| v.path.clone()).collect();
        let event = NewEvent {
            kind: MEDIA_EVENT.into(),
            paths: paths.clone(),
            keys: std::iter::once(media_key(media.id))
                .chain(paths.iter().map(|p| page_key(p)))
                .collect(),
            entries: Vec::new(),
        };
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let mut local = self.sink.as_ref().and_then(|sink| sink.begin(&refs));
        match self.store.delete_media(media.id, event).await {
            Ok(MediaDeletion::Deleted { seq }) => {
                self.applied(paths.into_iter().map(PageWrite::Delete).collect(), seq)
                    .await;
                if let Some(local) = &mut local {
                    local.committed(Some(seq));
                }
                Ok(None)
            }
            Ok(MediaDeletion::InUse(users)) => Ok(Some(users)),
            Err(StoreError::NotFound) => Err(not_found(media.id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes images uploaded before `older_than` that no published entry
    /// shows and no draft or pending change names. Old revisions are not
    /// looked at: restoring one that showed a collected image asks for a
    /// new upload (its publish is refused naming the image).
    pub async fn cleanup(
        &self,
        older_than: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Cleanup, AppError> {
        let candidates = self.store.unused_media(older_than, CLEANUP_SCAN).await?;
        let mut in_drafts = std::collections::HashSet::new();
        for batch in candidates.chunks(DRAFT_CHECK_BATCH) {
            let ids: Vec<MediaId> = batch.iter().map(|m| m.id).collect();
            in_drafts.extend(self.store.media_in_drafts(&ids).await?);
        }
        let mut report = Cleanup {
            dry_run,
            ..Cleanup::default()
        };
        for media in candidates {
            if in_drafts.contains(&media.id) {
                report.spared.push(media.id);
                continue;
            }
            if dry_run {
                report.deleted.push(media);
                continue;
            }
            match self.delete_media(&media).await {
                Ok(None) => report.deleted.push(media),
                // Published since the scan, or deleted by someone else.
                Ok(Some(_)) | Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn applied(&self, mut pages: Vec<PageWrite>, seq: i64) {
        let Some(sink) = &self.sink else {
            return;
        };
        for p in &mut pages {
            if let PageWrite::Upsert(page) = p {
                page.seq = seq;
            }
        }
        sink.apply(&pages).await;
    }

    /// Runs CPU work on the blocking pool once a render slot is free.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _slot = self.slots.acquire().await.map_err(AppError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(AppError::internal)
    }
}

impl From<MediaError> for AppError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::TooLarge { .. } => AppError::PayloadTooLarge(e.to_string()),
            MediaError::Svg | MediaError::Unsupported { .. } | MediaError::Unrecognised => {
                AppError::UnsupportedMediaType(e.to_string())
            }
            MediaError::Empty
            | MediaError::TooManyPixels { .. }
            | MediaError::TooTall { .. }
            | MediaError::Corrupt { .. }
            | MediaError::Undecodable { .. }
            | MediaError::InvalidCrop { .. } => AppError::Unprocessable(e.to_string()),
            MediaError::Resize { .. } | MediaError::Encode { .. } => AppError::internal(e),
        }
    }
}

fn not_found(id: MediaId) -> AppError {
    AppError::NotFound(format!("no image {id}"))
}

/// Every problem of a description at once, as the entry API reports a
/// field's, with pointers into the request.
fn check_description(
    alt: Option<&str>,
    caption: Option<&str>,
    credit: Option<&str>,
    focal: Option<(f32, f32)>,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let mut too_long = |name: &str, value: Option<&str>, max: usize| {
        let message = match value {
            // PostgreSQL cannot store NUL in text.
            Some(v) if v.contains('\0') => "must not contain NUL characters".to_owned(),
            Some(v) if v.trim().chars().count() > max => {
                format!("must be at most {max} characters")
            }
            _ => return,
        };
        errors.push(FieldError {
            pointer: format!("/{name}"),
            message,
        });
    };
    too_long("alt", alt, MAX_ALT);
    too_long("caption", caption, MAX_CAPTION);
    too_long("credit", credit, MAX_CREDIT);
    if let Some((x, y)) = focal {
        let inside = |v: f32| (0.0..=1.0).contains(&v);
        if !inside(x) || !inside(y) {
            errors.push(FieldError {
                pointer: "/focal".into(),
                message: format!(
                    "({x}, {y}) is outside the image: x and y are fractions of width and height, \
                     from 0 to 1"
                ),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

fn crop_of((w, h): (u32, u32), focal: Option<(f32, f32)>) -> Result<Crop, AppError> {
    if w == 0 || h == 0 || w > MAX_ASPECT || h > MAX_ASPECT {
        return Err(AppError::Validation(vec![FieldError {
            pointer: "/aspect".into(),
            message: format!(
                "{w}:{h} is not an aspect ratio to crop to: give width:height, each from 1 to \
                 {MAX_ASPECT} (16:9, 1:1)"
            ),
        }]));
    }
    let focus = focal.map_or_else(FocalPoint::default, |(x, y)| FocalPoint {
        x: f64::from(x),
        y: f64::from(y),
    });
    Ok(Crop {
        aspect_width: w,
        aspect_height: h,
        focus,
    })
}

/// A crop of an upload is an image of its own: its hash names the original
/// and the crop, so each crop gets its own immutable URLs.
fn cropped_hash(hash: &str, crop: &Crop) -> String {
    let key = format!(
        "{hash}:{}:{}@{:.4},{:.4}",
        crop.aspect_width, crop.aspect_height, crop.focus.x, crop.focus.y
    );
    let mut hex = hex::encode(Sha256::digest(key.as_bytes()));
    hex.truncate(hash.len());
    hex
}

/// The file name's stem as a path segment: lowercase ASCII letters and
/// digits joined by single hyphens (`Home Win!.JPG` → `home-win`), so a
/// URL never carries what a client put in a name; `image` when nothing is
/// left.
pub fn name_of(file_name: Option<&str>) -> String {
    let stem = file_name
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n))
        .map(|n| n.rsplit_once('.').map_or(n, |(stem, _)| stem))
        .unwrap_or("");
    let mut name = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            if name.chars().count() >= MAX_NAME {
                break;
            }
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "image".into()
    } else {
        name.to_owned()
    }
}

/// The path of one variant.
pub fn variant_path(hash: &str, name: &str, width: u32, format: Format) -> String {
    format!("/media/{hash}/{name}-{width}.{}", format.extension())
}

/// The variants' rows and the pages holding their bytes, narrowest first.
/// Public so that benchmarks serve an image page built as uploads build it.
pub fn variant_pages(
    id: MediaId,
    hash: &str,
    name: &str,
    variants: Vec<Variant>,
    now: DateTime<Utc>,
) -> (Vec<MediaVariant>, Vec<Page>) {
    let policy = CachePolicy {
        browser_max_age: MEDIA_MAX_AGE,
        edge_max_age: MEDIA_MAX_AGE,
        stale_while_revalidate: 0,
        stale_if_error: 0,
        immutable: true,
    };
    variants
        .into_iter()
        .map(|v| {
            let path = variant_path(hash, name, v.width, v.format);
            let row = MediaVariant {
                path: path.clone(),
                width: v.width,
                height: v.height,
                format: v.format.mime().to_owned(),
                bytes: v.bytes.len() as i64,
            };
            let page = Page {
                surrogate_keys: vec![media_key(id), page_key(&path)],
                path,
                entry_id: None,
                status: 200,
                content_type: v.format.mime().to_owned(),
                etag: etag_of(&v.bytes),
                identity: v.bytes,
                br: Vec::new(),
                gzip: Vec::new(),
                last_modified: now,
                cache_policy: policy,
                seq: 0,
            };
            (row, page)
        })
        .unzip()
}

/// Trimmed; blank is none.
fn tidy(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}
