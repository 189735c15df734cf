//! Deleting an image and publishing an entry that shows it, at the same
//! time: whichever takes the image row's lock second waits for the other
//! to commit, then sees its result. Each half of the race is played by a
//! raw transaction holding the lock the store's own call would hold.

use std::time::Duration;

use chrono::Utc;
use tokio_postgres::NoTls;

use super::harness::{self, created};
use crate::model::{EntryIndex, MediaId, NewMedia};
use crate::store::{EntryOp, MediaDeletion, NewEvent, Store, StoreError, Write};

/// Long enough for a call that does not wait to have finished.
const BLOCKED: Duration = Duration::from_millis(300);

fn image() -> NewMedia {
    let id = MediaId::now_v7();
    NewMedia {
        id,
        hash: id.to_string(),
        name: "goal".into(),
        alt: "The goal".into(),
        caption: None,
        credit: None,
        focal: None,
        format: "image/png".into(),
        width: 10,
        height: 10,
        original: vec![0x89, b'P', b'N', b'G'],
        created_by: "tester".into(),
    }
}

fn media_event() -> NewEvent {
    NewEvent {
        kind: "media".into(),
        ..NewEvent::default()
    }
}

async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn a_delete_waits_for_a_publish_showing_the_image_then_refuses() {
    let Some(store) = harness::store().await else {
        return;
    };
    let (media, _) = store
        .create_media(&image(), &[], &[], media_event())
        .await
        .expect("create");
    let entry = created(&store, "match", "a-vs-b").await;
    // A publish, between recording the use and committing.
    let publish = raw(&store.db.url).await;
    publish.batch_execute("BEGIN").await.unwrap();
    publish
        .execute(
            "INSERT INTO media_uses (media_id, entry_id) VALUES ($1, $2)",
            &[&media.id.uuid(), &entry],
        )
        .await
        .unwrap();

    let deleting = {
        let store = store.store.clone();
        tokio::spawn(async move { store.delete_media(media.id, media_event()).await })
    };
    tokio::time::sleep(BLOCKED).await;
    assert!(!deleting.is_finished(), "the delete waits for the publish");
    publish.batch_execute("COMMIT").await.unwrap();

    let outcome = deleting.await.unwrap().expect("delete");
    assert_eq!(outcome, MediaDeletion::InUse(vec![entry]));
    assert!(store.media(media.id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_publish_waits_for_a_delete_of_the_image_then_fails() {
    let Some(store) = harness::store().await else {
        return;
    };
    let (media, _) = store
        .create_media(&image(), &[], &[], media_event())
        .await
        .expect("create");
    let entry = created(&store, "match", "a-vs-b").await;
    // A delete, between its check and committing.
    let delete = raw(&store.db.url).await;
    delete.batch_execute("BEGIN").await.unwrap();
    delete
        .execute(
            "SELECT id FROM media WHERE id = $1 FOR UPDATE",
            &[&media.id.uuid()],
        )
        .await
        .unwrap();

    let publishing = {
        let store = store.store.clone();
        let index = EntryIndex {
            media: vec![media.id],
            ..EntryIndex::empty(entry)
        };
        let write = Write::new(
            EntryOp::Publish {
                id: entry,
                expected_version: Some(1),
            },
            "tester",
        )
        .with_index(vec![index])
        .at(Utc::now());
        tokio::spawn(async move { store.write(write).await })
    };
    tokio::time::sleep(BLOCKED).await;
    assert!(
        !publishing.is_finished(),
        "the publish waits for the delete"
    );
    delete
        .execute("DELETE FROM media WHERE id = $1", &[&media.id.uuid()])
        .await
        .unwrap();
    delete.batch_execute("COMMIT").await.unwrap();

    let err = publishing.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidState(why) if why.contains(&media.id.to_string())),
        "{err:?}"
    );
    let entry = store.entry(entry).await.unwrap().unwrap();
    assert!(entry.published_data.is_none(), "the publish rolled back");
}
