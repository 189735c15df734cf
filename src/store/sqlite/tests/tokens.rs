//! API token lifecycle.

use chrono::{Duration, TimeZone, Utc};

use super::fresh;
use crate::store::{Role, Store, StoreError};

#[tokio::test]
async fn token_lifecycle() {
    let (store, _dir) = fresh().await;
    let created = store
        .create_token("ci", Role::Editor, "hash-1")
        .await
        .unwrap();
    assert_eq!((created.name.as_str(), created.role), ("ci", Role::Editor));
    assert_eq!((created.last_used_at, created.revoked_at), (None, None));
    assert_eq!(
        store.token_by_hash("hash-1").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.token_by_hash("nope").await.unwrap(), None);

    let err = store
        .create_token("ci", Role::Admin, "hash-2")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate(w) if w == "token \"ci\""),
        "{err:?}"
    );
    let err = store
        .create_token("other", Role::Admin, "hash-1")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate(w) if w == "token hash"),
        "{err:?}"
    );

    let used = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + Duration::microseconds(7);
    store.touch_token("ci", used).await.unwrap();
    let touched = store.token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(used));

    store.revoke_token("ci").await.unwrap();
    assert_eq!(store.token_by_hash("hash-1").await.unwrap(), None);
    assert!(matches!(
        store.revoke_token("ci").await,
        Err(StoreError::NotFound)
    ));
    // Best effort: a token revoked since it authenticated is left alone.
    store.touch_token("ci", used).await.unwrap();
    assert!(matches!(
        store.revoke_token("never").await,
        Err(StoreError::NotFound)
    ));

    // A revoked name can be reused.
    let again = store
        .create_token("ci", Role::Admin, "hash-3")
        .await
        .unwrap();
    let all = store.tokens().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].name, "ci");
    assert!(all[0].revoked_at.is_some());
    assert_eq!(all[0].last_used_at, Some(used));
    assert_eq!(all[1], again);
    assert_eq!(store.token_by_hash("hash-3").await.unwrap(), Some(again));
}
