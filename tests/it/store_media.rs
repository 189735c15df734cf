//! The store's half of images, on both backends: an upload stored with its
//! variants, their pages and an event in one go; the library's listing and
//! search; which published entries show an image; and a delete that is
//! refused while one does.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keel::model::{
    CachePolicy, EntryId, EntryIndex, Media, MediaChange, MediaId, MediaQuery, MediaVariant,
    NewMedia, Page, page_key,
};
use keel::store::{EntryOp, MediaDeletion, NewEvent, Store, StoreError, Write};
use serde_json::json;

use crate::on_both_backends;

type S = Arc<dyn Store>;

on_both_backends!(
    store:
    an_upload_is_stored_with_its_variants_pages_and_event,
    the_same_bytes_uploaded_twice_are_a_duplicate,
    the_library_lists_newest_first_and_finds_by_name_or_alt_text,
    an_update_changes_only_what_it_names,
    images_are_read_many_at_once,
    an_image_shown_by_a_published_entry_cannot_be_deleted,
    a_publish_showing_a_missing_image_fails,
    unused_media_are_old_and_shown_by_no_published_entry,
    media_named_by_drafts_and_pending_changes_are_found,
);

fn new_media(name: &str, alt: &str) -> NewMedia {
    let id = MediaId::now_v7();
    NewMedia {
        id,
        hash: format!("{:064x}", id.uuid().as_u128()),
        name: name.into(),
        alt: alt.into(),
        caption: Some("Kick-off at the Park".into()),
        credit: Some("Agency".into()),
        focal: Some((0.25, 0.75)),
        format: "image/jpeg".into(),
        width: 4000,
        height: 3000,
        original: vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3],
        created_by: "alice@example.com".into(),
    }
}

fn variants(m: &NewMedia) -> Vec<MediaVariant> {
    [
        (640, "webp", "image/webp"),
        (320, "webp", "image/webp"),
        (640, "jpg", "image/jpeg"),
    ]
    .into_iter()
    .map(|(width, ext, format)| MediaVariant {
        path: format!("/media/{}/{}-{width}.{ext}", m.hash, m.name),
        width,
        height: width * 3 / 4,
        format: format.into(),
        bytes: i64::from(width) * 10,
    })
    .collect()
}

fn variant_page(m: &NewMedia, v: &MediaVariant) -> Page {
    Page {
        path: v.path.clone(),
        entry_id: None,
        status: 200,
        content_type: v.format.clone(),
        identity: vec![7; v.bytes as usize],
        br: Vec::new(),
        gzip: Vec::new(),
        etag: format!("{}-{}", m.hash, v.width),
        last_modified: Utc::now(),
        surrogate_keys: vec![format!("media:{}", m.id), page_key(&v.path)],
        cache_policy: CachePolicy {
            immutable: true,
            ..CachePolicy::default()
        },
        seq: 0,
    }
}

fn media_event(m: &NewMedia, variants: &[MediaVariant]) -> NewEvent {
    NewEvent {
        kind: "media".into(),
        paths: variants.iter().map(|v| v.path.clone()).collect(),
        keys: std::iter::once(format!("media:{}", m.id))
            .chain(variants.iter().map(|v| page_key(&v.path)))
            .collect(),
        entries: Vec::new(),
    }
}

async fn uploaded(store: &S, m: &NewMedia) -> (Media, i64) {
    let variants = variants(m);
    let pages: Vec<Page> = variants.iter().map(|v| variant_page(m, v)).collect();
    store
        .create_media(m, &variants, &pages, media_event(m, &variants))
        .await
        .expect("create_media")
}

async fn upload(store: &S, name: &str, alt: &str) -> Media {
    uploaded(store, &new_media(name, alt)).await.0
}

/// Publishes a new entry whose published data shows `media`.
async fn published_showing(store: &S, slug: &str, media: &[MediaId]) -> EntryId {
    let data = json!({"image": {"media": media.first().map(ToString::to_string), "alt": "x"}});
    let id = store
        .write(Write::new(
            EntryOp::Create {
                type_name: "match".into(),
                slug: slug.into(),
                data,
            },
            "alice",
        ))
        .await
        .unwrap()
        .entry
        .unwrap()
        .id;
    let index = EntryIndex {
        media: media.to_vec(),
        ..EntryIndex::empty(id)
    };
    store
        .write(
            Write::new(
                EntryOp::Publish {
                    id,
                    expected_version: Some(1),
                },
                "alice",
            )
            .with_index(vec![index]),
        )
        .await
        .unwrap();
    id
}

async fn unpublish(store: &S, id: EntryId) {
    store
        .write(
            Write::new(
                EntryOp::Unpublish {
                    id,
                    expected_version: None,
                },
                "alice",
            )
            .with_index(vec![EntryIndex::empty(id)]),
        )
        .await
        .unwrap();
}

fn delete_event(m: &Media) -> NewEvent {
    NewEvent {
        kind: "media".into(),
        paths: m.variants.iter().map(|v| v.path.clone()).collect(),
        keys: vec![format!("media:{}", m.id)],
        entries: Vec::new(),
    }
}

async fn an_upload_is_stored_with_its_variants_pages_and_event(store: S) {
    let before = Utc::now();
    let new = new_media("kick-off", "Players line up before kick-off");
    let (media, seq) = uploaded(&store, &new).await;
    assert_eq!(media.id, new.id);
    assert_eq!(media.hash, new.hash);
    assert_eq!(media.name, "kick-off");
    assert_eq!(media.alt, new.alt);
    assert_eq!(media.caption, new.caption);
    assert_eq!(media.credit, new.credit);
    assert_eq!(media.focal, Some((0.25, 0.75)));
    assert_eq!(media.format, "image/jpeg");
    assert_eq!((media.width, media.height), (4000, 3000));
    assert_eq!(media.size, new.original.len() as i64);
    assert_eq!(media.created_by, "alice@example.com");
    assert!(media.created_at >= before - chrono::Duration::seconds(1));
    let widths: Vec<(u32, &str)> = media
        .variants
        .iter()
        .map(|v| (v.width, v.format.as_str()))
        .collect();
    assert_eq!(
        widths,
        [
            (320, "image/webp"),
            (640, "image/jpeg"),
            (640, "image/webp")
        ],
        "narrowest first"
    );
    assert_eq!(store.media(new.id).await.unwrap().as_ref(), Some(&media));
    assert_eq!(
        store.media_by_hash(&new.hash).await.unwrap().as_ref(),
        Some(&media)
    );
    assert_eq!(
        store.media_original(new.id).await.unwrap(),
        Some(new.original.clone())
    );
    assert_eq!(store.media(MediaId::now_v7()).await.unwrap(), None);
    assert_eq!(store.media_original(MediaId::now_v7()).await.unwrap(), None);

    for v in &media.variants {
        let page = store.page(&v.path).await.unwrap().expect("variant page");
        assert_eq!(page.content_type, v.format);
        assert_eq!(page.identity.len() as i64, v.bytes);
        assert!(page.br.is_empty() && page.gzip.is_empty());
        assert!(page.cache_policy.immutable);
        assert_eq!(page.seq, seq, "the pages carry the upload's seq");
        assert!(page.surrogate_keys.contains(&format!("media:{}", new.id)));
        assert!(page.surrogate_keys.contains(&page_key(&v.path)));
    }
    let events = store.events_since(seq - 1, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, seq);
    assert_eq!(events[0].kind, "media");
    assert_eq!(events[0].entry_id, None);
    let mut paths = events[0].paths.clone();
    paths.sort();
    let mut expected: Vec<String> = media.variants.iter().map(|v| v.path.clone()).collect();
    expected.sort();
    assert_eq!(paths, expected);
    assert!(events[0].keys.contains(&format!("media:{}", new.id)));
}

async fn the_same_bytes_uploaded_twice_are_a_duplicate(store: S) {
    let first = new_media("a", "first");
    uploaded(&store, &first).await;
    let seq = store.last_seq().await.unwrap();
    let again = NewMedia {
        id: MediaId::now_v7(),
        name: "b".into(),
        ..first.clone()
    };
    let variants = variants(&again);
    let pages: Vec<Page> = variants.iter().map(|v| variant_page(&again, v)).collect();
    let err = store
        .create_media(&again, &variants, &pages, media_event(&again, &variants))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate(what) if what.contains(&first.hash)),
        "{err:?}"
    );
    assert_eq!(store.media(again.id).await.unwrap(), None);
    assert_eq!(store.last_seq().await.unwrap(), seq, "no event");
    assert_eq!(
        store.page(&variants[0].path).await.unwrap(),
        None,
        "no page"
    );
    let existing = store.media_by_hash(&first.hash).await.unwrap().unwrap();
    assert_eq!(existing.id, first.id);
}

async fn the_library_lists_newest_first_and_finds_by_name_or_alt_text(store: S) {
    let a = upload(&store, "Stadium-North", "Floodlights at dusk").await;
    let b = upload(&store, "coach", "The coach on the touchline").await;
    let c = upload(&store, "fans", "Fans in the NORTH stand").await;
    let ids = |list: Vec<Media>| list.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let page = |q: Option<&str>, before: Option<MediaId>, limit: u32| MediaQuery {
        q: q.map(str::to_owned),
        before,
        limit,
    };

    let all = ids(store.media_list(&page(None, None, 10)).await.unwrap());
    assert_eq!(all, [c.id, b.id, a.id]);
    let first = ids(store.media_list(&page(None, None, 2)).await.unwrap());
    assert_eq!(first, [c.id, b.id]);
    let rest = ids(store.media_list(&page(None, Some(b.id), 2)).await.unwrap());
    assert_eq!(
        rest,
        [a.id],
        "the keyset cursor continues after the last seen"
    );

    let north = ids(store
        .media_list(&page(Some("north"), None, 10))
        .await
        .unwrap());
    assert_eq!(north, [c.id, a.id], "by alt text and by name, any case");
    let coach = ids(store
        .media_list(&page(Some("TOUCHLINE"), None, 10))
        .await
        .unwrap());
    assert_eq!(coach, [b.id]);
    let older = ids(store
        .media_list(&page(Some("north"), Some(c.id), 10))
        .await
        .unwrap());
    assert_eq!(older, [a.id]);
    let none = store
        .media_list(&page(Some("100%"), None, 10))
        .await
        .unwrap();
    assert!(none.is_empty(), "% is text, not a wildcard");
}

async fn an_update_changes_only_what_it_names(store: S) {
    let m = upload(&store, "bench", "Substitutes").await;
    let changed = store
        .update_media(
            m.id,
            &MediaChange {
                alt: Some("The bench".into()),
                caption: Some(None),
                ..MediaChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.alt, "The bench");
    assert_eq!(changed.caption, None, "cleared");
    assert_eq!(changed.credit, m.credit, "unchanged");
    assert_eq!(changed.focal, m.focal, "unchanged");
    assert_eq!(changed.variants, m.variants);
    let changed = store
        .update_media(
            m.id,
            &MediaChange {
                credit: Some(Some("Club photographer".into())),
                focal: Some(Some((0.5, 0.1))),
                ..MediaChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.alt, "The bench");
    assert_eq!(changed.credit.as_deref(), Some("Club photographer"));
    assert_eq!(changed.focal, Some((0.5, 0.1)));
    assert_eq!(store.media(m.id).await.unwrap(), Some(changed));
    let missing = store
        .update_media(MediaId::now_v7(), &MediaChange::default())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

async fn images_are_read_many_at_once(store: S) {
    let a = upload(&store, "a", "a").await;
    let b = upload(&store, "b", "b").await;
    upload(&store, "c", "c").await;
    let mut found = store
        .media_by_ids(&[b.id, MediaId::now_v7(), a.id])
        .await
        .unwrap();
    found.sort_by_key(|m| m.id);
    assert_eq!(found, [a, b], "unknown ids are skipped");
    assert!(store.media_by_ids(&[]).await.unwrap().is_empty());
}

async fn an_image_shown_by_a_published_entry_cannot_be_deleted(store: S) {
    let m = upload(&store, "goal", "The winning goal").await;
    let other = upload(&store, "crowd", "The crowd").await;
    let entry = published_showing(&store, "a-vs-b", &[m.id, other.id]).await;
    assert_eq!(store.media_users(m.id).await.unwrap(), [entry]);
    assert!(
        store
            .media_users(MediaId::now_v7())
            .await
            .unwrap()
            .is_empty()
    );

    let seq = store.last_seq().await.unwrap();
    let refused = store.delete_media(m.id, delete_event(&m)).await.unwrap();
    assert_eq!(refused, MediaDeletion::InUse(vec![entry]));
    assert_eq!(store.last_seq().await.unwrap(), seq, "no event");
    assert!(store.media(m.id).await.unwrap().is_some());
    assert!(store.page(&m.variants[0].path).await.unwrap().is_some());

    unpublish(&store, entry).await;
    assert!(store.media_users(m.id).await.unwrap().is_empty());
    let MediaDeletion::Deleted { seq } = store.delete_media(m.id, delete_event(&m)).await.unwrap()
    else {
        panic!("an image no published entry shows is deleted");
    };
    assert_eq!(store.media(m.id).await.unwrap(), None);
    assert_eq!(store.media_by_hash(&m.hash).await.unwrap(), None);
    assert_eq!(store.media_original(m.id).await.unwrap(), None);
    for v in &m.variants {
        assert_eq!(store.page(&v.path).await.unwrap(), None, "{}", v.path);
    }
    let event = &store.events_since(seq - 1, 10).await.unwrap()[0];
    assert_eq!(event.seq, seq);
    assert_eq!(event.kind, "media");
    assert_eq!(event.paths, delete_event(&m).paths);
    assert!(store.media(other.id).await.unwrap().is_some(), "untouched");
    assert!(store.page(&other.variants[0].path).await.unwrap().is_some());

    let again = store.delete_media(m.id, delete_event(&m)).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
}

async fn a_publish_showing_a_missing_image_fails(store: S) {
    let m = upload(&store, "gone", "Soon gone").await;
    let MediaDeletion::Deleted { .. } = store.delete_media(m.id, delete_event(&m)).await.unwrap()
    else {
        panic!("unused");
    };
    let id = store
        .write(Write::new(
            EntryOp::Create {
                type_name: "match".into(),
                slug: "c-vs-d".into(),
                data: json!({}),
            },
            "alice",
        ))
        .await
        .unwrap()
        .entry
        .unwrap()
        .id;
    let index = EntryIndex {
        media: vec![m.id],
        ..EntryIndex::empty(id)
    };
    let err = store
        .write(
            Write::new(
                EntryOp::Publish {
                    id,
                    expected_version: Some(1),
                },
                "alice",
            )
            .with_index(vec![index]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidState(why) if why.contains(&m.id.to_string())),
        "{err:?}"
    );
    let entry = store.entry(id).await.unwrap().unwrap();
    assert_eq!(entry.version, 1, "the publish rolled back");
    assert!(entry.published_data.is_none());
}

async fn unused_media_are_old_and_shown_by_no_published_entry(store: S) {
    let old = upload(&store, "old", "old").await;
    let shown = upload(&store, "shown", "shown").await;
    published_showing(&store, "e-vs-f", &[shown.id]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let recent = upload(&store, "recent", "recent").await;

    let ids = |list: Vec<Media>| list.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(store.unused_media(cutoff, 10).await.unwrap()), [old.id]);
    let later = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(
        ids(store.unused_media(later, 10).await.unwrap()),
        [old.id, recent.id],
        "oldest first"
    );
    assert_eq!(ids(store.unused_media(later, 1).await.unwrap()), [old.id]);
}

async fn media_named_by_drafts_and_pending_changes_are_found(store: S) {
    let in_draft = upload(&store, "draft", "draft").await;
    let in_gallery = upload(&store, "gallery", "gallery").await;
    let live_only = upload(&store, "live", "live").await;
    let nowhere = upload(&store, "nowhere", "nowhere").await;
    // A draft never published, with an image nested in a list.
    store
        .write(Write::new(
            EntryOp::Create {
                type_name: "article".into(),
                slug: "draft-story".into(),
                data: json!({
                    "hero": {"media": in_draft.id.to_string(), "alt": "x"},
                    "gallery": [{"media": in_gallery.id.to_string(), "alt": "y"}],
                }),
            },
            "alice",
        ))
        .await
        .unwrap();
    // Published and unchanged since: its use is in media_uses, not a draft.
    published_showing(&store, "g-vs-h", &[live_only.id]).await;

    let all = [in_draft.id, in_gallery.id, live_only.id, nowhere.id];
    let mut found = store.media_in_drafts(&all).await.unwrap();
    found.sort();
    let mut expected = vec![in_draft.id, in_gallery.id];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(store.media_in_drafts(&[]).await.unwrap(), []);
    assert_eq!(store.media_in_drafts(&[nowhere.id]).await.unwrap(), []);
}
