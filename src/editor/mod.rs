//! The entry lifecycle every writer goes through (the editor API, the
//! scheduler, the demo seed): validate against the content type, check
//! references, then one store write carrying the revision and, for changes
//! readers can see, the event that announces them. Nothing here speaks HTTP.

mod precondition;
pub mod scheduler;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};

use crate::content_types::{ContentType, ContentTypes, FieldError, validate_slug};
use crate::error::{AppError, Referrer};
use crate::model::{Entry, EntryId, EntryStatus, MediaId};
use crate::publish::{Announced, Change, Publisher};
use crate::store::{EntryOp, Store, StoreError, Write};

pub use self::precondition::IfMatch;

/// How often a write without `If-Match` is retried when another writer
/// changed the entry between our read and our write.
const MERGE_RETRIES: usize = 3;

/// Validated entry changes on top of the store.
#[derive(Clone)]
pub struct Editor {
    store: Arc<dyn Store>,
    types: Arc<ContentTypes>,
    publisher: Arc<Publisher>,
}

/// A partial update: fields in `data` replace the working copy's (a `null`
/// removes an optional field, as in JSON Merge Patch).
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub slug: Option<String>,
    pub data: Map<String, Value>,
}

impl Editor {
    pub fn new(store: Arc<dyn Store>, types: Arc<ContentTypes>, publisher: Arc<Publisher>) -> Self {
        Editor {
            store,
            types,
            publisher,
        }
    }

    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    pub fn types(&self) -> &ContentTypes {
        &self.types
    }

    pub fn types_arc(&self) -> Arc<ContentTypes> {
        self.types.clone()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn content_type(&self, name: &str) -> Result<&ContentType, AppError> {
        self.types
            .get(name)
            .ok_or_else(|| AppError::NotFound(format!("no content type {name:?}")))
    }

    /// The entry, if it exists and belongs to `type_name`.
    pub async fn get(&self, type_name: &str, id: EntryId) -> Result<Entry, AppError> {
        self.content_type(type_name)?;
        match self.store.entry(id).await? {
            Some(entry) if entry.type_name == type_name => Ok(entry),
            _ => Err(AppError::NotFound(format!("no {type_name} entry {id}"))),
        }
    }

    pub async fn create(
        &self,
        type_name: &str,
        slug: &str,
        data: Value,
        author: &str,
    ) -> Result<Entry, AppError> {
        let ty = self.content_type(type_name)?;
        let data = self.validated(ty, slug, &data, None).await?;
        let outcome = self
            .store
            .write(Write::new(
                EntryOp::Create {
                    type_name: type_name.to_owned(),
                    slug: slug.to_owned(),
                    data,
                },
                author,
            ))
            .await?;
        outcome
            .entry
            .ok_or_else(|| AppError::internal(StoreError::NotFound))
    }

    /// Merges `patch` into the working copy. With `if_match` a different
    /// current version is a conflict; without, a concurrent change is merged
    /// again (bounded), so no writer's fields are silently lost.
    pub async fn update(
        &self,
        type_name: &str,
        id: EntryId,
        patch: Patch,
        if_match: &IfMatch,
        author: &str,
    ) -> Result<Entry, AppError> {
        let ty = self.content_type(type_name)?;
        for _ in 0..MERGE_RETRIES {
            let current = self.get(type_name, id).await?;
            if_match.check(&current)?;
            let slug = patch.slug.clone().unwrap_or_else(|| current.slug.clone());
            let merged = merge(&current.data, &patch.data);
            let data = self.validated(ty, &slug, &merged, Some(id)).await?;
            let op = EntryOp::Update {
                id,
                expected_version: Some(current.version),
                slug,
                data,
            };
            match self.store.write(Write::new(op, author)).await {
                Ok(outcome) => return entry_of(outcome.entry),
                Err(StoreError::Conflict { .. }) if if_match.is_any() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict(
            "the entry kept changing while it was being updated; try again".into(),
        ))
    }

    /// Merges `patch` into the working copy and publishes the result in one
    /// store write (one version): validated as a publish is, live at once,
    /// or nothing changes. What the live-match console and
    /// `PATCH ...?publish=true` do.
    pub async fn update_and_publish(
        &self,
        type_name: &str,
        id: EntryId,
        patch: Patch,
        if_match: &IfMatch,
        author: &str,
    ) -> Result<Entry, AppError> {
        let ty = self.content_type(type_name)?;
        let announced = self.publisher.announce();
        let current = self.get(type_name, id).await?;
        if_match.check(&current)?;
        let slug = patch.slug.unwrap_or_else(|| current.slug.clone());
        let merged = merge(&current.data, &patch.data);
        let data = self.validated(ty, &slug, &merged, Some(id)).await?;
        self.check_references_published(ty, &data).await?;
        let op = EntryOp::PublishDraft {
            id,
            expected_version: Some(current.version),
            slug: slug.clone(),
            data: data.clone(),
        };
        let after = published_state(&Entry {
            slug,
            data,
            ..current.clone()
        });
        let change = Change {
            op,
            kind: "publish",
            author: author.to_owned(),
            before: Some(current),
            after: Some(after),
        };
        let outcome = announced.commit(change).await;
        concurrent_change(outcome.and_then(|o| entry_of(o.entry)), if_match)
    }

    /// Publishes the working copy now, or schedules it for `at`.
    pub async fn publish(
        &self,
        type_name: &str,
        id: EntryId,
        at: Option<DateTime<Utc>>,
        if_match: &IfMatch,
        author: &str,
    ) -> Result<Entry, AppError> {
        self.content_type(type_name)?;
        let announced = self.publisher.announce();
        let current = self.get(type_name, id).await?;
        if_match.check(&current)?;
        let current = self.ready_to_publish(current, author).await?;
        let expected_version = Some(current.version);
        let outcome = match at {
            Some(at) if at > Utc::now() => {
                // Nothing changes for readers until the scheduler publishes;
                // a group committing meanwhile need not wait for this.
                drop(announced);
                let op = EntryOp::Schedule {
                    id,
                    expected_version,
                    at,
                };
                self.store
                    .write(Write::new(op, author))
                    .await
                    .map_err(AppError::from)
                    .and_then(|o| entry_of(o.entry))
            }
            _ => self.publish_now(current, author, announced).await,
        };
        concurrent_change(outcome, if_match)
    }

    /// The draft checked as a publish needs it: valid against the type as it
    /// is now (saving the normalized form first if the type changed since),
    /// referring only to published entries and to images that exist.
    async fn ready_to_publish(&self, current: Entry, author: &str) -> Result<Entry, AppError> {
        let ty = self.content_type(&current.type_name)?;
        let data = self
            .validated(ty, &current.slug, &current.data, Some(current.id))
            .await?;
        self.check_references_published(ty, &data).await?;
        if data == current.data {
            return Ok(current);
        }
        let op = EntryOp::Update {
            id: current.id,
            expected_version: Some(current.version),
            slug: current.slug.clone(),
            data,
        };
        entry_of(self.store.write(Write::new(op, author)).await?.entry)
    }

    async fn publish_now(
        &self,
        current: Entry,
        author: &str,
        announced: Announced,
    ) -> Result<Entry, AppError> {
        let op = EntryOp::Publish {
            id: current.id,
            expected_version: Some(current.version),
        };
        let after = published_state(&current);
        let change = Change {
            op,
            kind: "publish",
            author: author.to_owned(),
            before: Some(current),
            after: Some(after),
        };
        entry_of(announced.commit(change).await?.entry)
    }

    /// Publishes a scheduled entry that is due, with the same checks as a
    /// publish by an editor. Returns `false` when another node (or an editor)
    /// got there first (the version check makes the publish happen exactly
    /// once) or when the draft can no longer be published (logged).
    pub async fn publish_due(&self, entry: &Entry) -> Result<bool, AppError> {
        if entry.status != EntryStatus::Scheduled {
            return Ok(false);
        }
        let announced = self.publisher.announce();
        let ready = match self.ready_to_publish(entry.clone(), "scheduler").await {
            Ok(ready) => ready,
            Err(AppError::VersionMismatch { .. } | AppError::NotFound(_)) => return Ok(false),
            Err(AppError::Validation(errors)) => {
                let problems: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.pointer, e.message))
                    .collect();
                // Left scheduled it would be retried every tick forever and,
                // once enough piled up, hold back every other due entry.
                tracing::warn!(id = %entry.id, problems = %problems.join("; "), "scheduled entry cannot be published; schedule cancelled");
                let op = EntryOp::Unschedule {
                    id: entry.id,
                    expected_version: Some(entry.version),
                };
                return match self.store.write(Write::new(op, "scheduler")).await {
                    Ok(_) | Err(StoreError::Conflict { .. } | StoreError::NotFound) => Ok(false),
                    Err(e) => Err(e.into()),
                };
            }
            Err(e) => return Err(e),
        };
        match self.publish_now(ready, "scheduler", announced).await {
            Ok(_) => Ok(true),
            Err(AppError::VersionMismatch { .. } | AppError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Withdraws the live version. Refused (`Referenced`) while published
    /// entries refer to it, unless `force`: their pages are then re-rendered
    /// without it.
    pub async fn unpublish(
        &self,
        type_name: &str,
        id: EntryId,
        if_match: &IfMatch,
        force: bool,
        author: &str,
    ) -> Result<Entry, AppError> {
        let announced = self.publisher.announce();
        let current = self.get(type_name, id).await?;
        if_match.check(&current)?;
        if !force {
            self.refuse_if_referenced(&current, "unpublish").await?;
        }
        if current.status == EntryStatus::Draft {
            return Err(AppError::Conflict(format!(
                "{type_name} entry {id} is not published"
            )));
        }
        let op = EntryOp::Unpublish {
            id,
            expected_version: Some(current.version),
        };
        let change = Change {
            op,
            kind: "unpublish",
            author: author.to_owned(),
            before: Some(current),
            after: None,
        };
        let outcome = announced.commit(change).await;
        concurrent_change(outcome.and_then(|o| entry_of(o.entry)), if_match)
    }

    /// Deletes the entry (its history stays). Refused like `unpublish`
    /// while published entries refer to it, unless `force`.
    pub async fn delete(
        &self,
        type_name: &str,
        id: EntryId,
        if_match: &IfMatch,
        force: bool,
        author: &str,
    ) -> Result<(), AppError> {
        let announced = self.publisher.announce();
        let current = self.get(type_name, id).await?;
        if_match.check(&current)?;
        if !force {
            self.refuse_if_referenced(&current, "delete").await?;
        }
        let op = EntryOp::Delete {
            id,
            expected_version: Some(current.version),
        };
        let change = Change {
            op,
            kind: "delete",
            author: author.to_owned(),
            before: Some(current),
            after: None,
        };
        concurrent_change(announced.commit(change).await, if_match)?;
        Ok(())
    }

    /// `Referenced` naming every published entry (other than `entry`
    /// itself) whose live version refers to `entry`.
    async fn refuse_if_referenced(&self, entry: &Entry, action: &str) -> Result<(), AppError> {
        let referrers: Vec<Referrer> = self
            .store
            .referrers(entry.id)
            .await?
            .into_iter()
            .filter(|r| r.id != entry.id)
            .map(Referrer::published)
            .collect();
        if referrers.is_empty() {
            return Ok(());
        }
        Err(AppError::Referenced {
            detail: format!(
                "{} {:?} is referred to by {}; change or unpublish them first, or repeat with ?force=true to {action} it anyway (their pages are re-rendered without it)",
                entry.type_name,
                entry.slug,
                Referrer::describe(&referrers),
            ),
            referrers,
        })
    }

    /// Slug and data checked against the type, plus reference existence and
    /// `unique` fields (`this` is the entry being changed, if it exists).
    async fn validated(
        &self,
        ty: &ContentType,
        slug: &str,
        data: &Value,
        this: Option<EntryId>,
    ) -> Result<Value, AppError> {
        let mut errors = Vec::new();
        if let Err(message) = validate_slug(slug) {
            errors.push(FieldError {
                pointer: "/slug".into(),
                message,
            });
        }
        let data = match ty.validate(data) {
            Ok(data) => Some(data),
            Err(mut field_errors) => {
                errors.append(&mut field_errors);
                None
            }
        };
        if let Some(data) = &data {
            errors.extend(self.reference_errors(ty, data, false).await?);
            errors.extend(self.unique_errors(ty, data, this).await?);
        }
        match data {
            Some(data) if errors.is_empty() => Ok(data),
            _ => Err(AppError::Validation(errors)),
        }
    }

    /// One problem per `unique` field whose value another entry of the type
    /// already holds. Checked before the write, so two editors racing with
    /// the same value in the same instant can both pass; slugs, which must
    /// never collide, are enforced by the store instead.
    async fn unique_errors(
        &self,
        ty: &ContentType,
        data: &Value,
        this: Option<EntryId>,
    ) -> Result<Vec<FieldError>, AppError> {
        let mut errors = Vec::new();
        for field in ty.fields.values().filter(|f| f.unique) {
            let Some(value) = data.get(&field.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let holders = self
                .store
                .entries_with_value(&ty.name, &field.name, value)
                .await?;
            if let Some(other) = holders.iter().find(|e| Some(e.id) != this) {
                errors.push(FieldError {
                    pointer: format!("/data/{}", field.name),
                    message: format!(
                        "must be unique: {} {:?} already has {value}",
                        ty.name, other.slug
                    ),
                });
            }
        }
        Ok(errors)
    }

    /// What a publish needs beyond a valid draft: every reference
    /// published, every image uploaded.
    async fn check_references_published(
        &self,
        ty: &ContentType,
        data: &Value,
    ) -> Result<(), AppError> {
        let mut errors = self.reference_errors(ty, data, true).await?;
        errors.extend(self.image_errors(ty, data).await?);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(errors))
        }
    }

    /// One problem per image naming media that does not exist (deleted, or
    /// never uploaded). One store query for all of them; drafts are not
    /// checked, so an editor may save before the upload finishes.
    async fn image_errors(
        &self,
        ty: &ContentType,
        data: &Value,
    ) -> Result<Vec<FieldError>, AppError> {
        let images = ty.images(data);
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<MediaId> = images.iter().map(|i| i.media).collect();
        ids.sort_unstable();
        ids.dedup();
        let found: HashSet<MediaId> = self
            .store
            .media_by_ids(&ids)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        Ok(images
            .into_iter()
            .filter(|i| !found.contains(&i.media))
            .map(|i| FieldError {
                message: format!("no image {}; upload it first", i.media),
                pointer: i.pointer,
            })
            .collect())
    }

    /// One problem per reference that names no entry of the right type (or,
    /// with `published`, no published one). One store query for all of them.
    async fn reference_errors(
        &self,
        ty: &ContentType,
        data: &Value,
        published: bool,
    ) -> Result<Vec<FieldError>, AppError> {
        let refs = ty.references(data);
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<EntryId> = refs.iter().map(|r| r.id).collect();
        let found = self.store.entries_by_ids(&ids).await?;
        let mut errors = Vec::new();
        for r in refs {
            let target = found.iter().find(|e| e.id == r.id);
            let message = match target {
                Some(e) if e.type_name != r.to => {
                    Some(format!("{} is a {}, not a {}", r.id, e.type_name, r.to))
                }
                Some(e) if published && e.published_data.is_none() => {
                    Some(format!("{} {} is not published", r.to, r.id))
                }
                Some(_) => None,
                None => Some(format!("no {} entry with id {}", r.to, r.id)),
            };
            if let Some(message) = message {
                errors.push(FieldError {
                    pointer: r.pointer,
                    message,
                });
            }
        }
        Ok(errors)
    }
}

/// The entry as it will be once its working copy is published.
fn published_state(current: &Entry) -> Entry {
    // At the stores' precision: the write records this very time.
    let now = Utc::now().trunc_subsecs(6);
    Entry {
        status: EntryStatus::Published,
        version: current.version + 1,
        published_slug: Some(current.slug.clone()),
        published_data: Some(current.data.clone()),
        published_at: Some(now),
        publish_at: None,
        updated_at: now,
        ..current.clone()
    }
}

/// A version conflict the client did not ask about (no `If-Match`) is a
/// plain conflict to retry (409), not a failed precondition (412).
fn concurrent_change<T>(result: Result<T, AppError>, if_match: &IfMatch) -> Result<T, AppError> {
    match result {
        Err(AppError::VersionMismatch { .. }) if if_match.is_any() => Err(AppError::Conflict(
            "the entry changed while this request was handled; try again".into(),
        )),
        other => other,
    }
}

fn entry_of(entry: Option<Entry>) -> Result<Entry, AppError> {
    entry.ok_or_else(|| AppError::internal(StoreError::NotFound))
}

/// JSON Merge Patch (RFC 7396) of the top-level fields.
fn merge(current: &Value, patch: &Map<String, Value>) -> Value {
    let mut merged = current.as_object().cloned().unwrap_or_default();
    for (key, value) in patch {
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    Value::Object(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_replaces_adds_and_removes_fields() {
        let current = json!({"a": 1, "b": 2});
        let patch = json!({"b": 3, "c": 4, "a": null});
        let merged = merge(&current, patch.as_object().unwrap());
        assert_eq!(merged, json!({"b": 3, "c": 4}));
    }
}
