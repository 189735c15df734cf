//! API token lifecycle.

use chrono::{SubsecRound, Utc};

use super::harness;
use crate::store::{Role, Store, StoreError};

#[tokio::test]
async fn tokens_are_created_used_revoked_and_their_names_reused() {
    let Some(store) = harness::store().await else {
        return;
    };
    let token = store
        .create_token("ci", Role::Editor, "hash-1")
        .await
        .expect("create");
    assert_eq!(
        (token.name.as_str(), token.role, token.hash.as_str()),
        ("ci", Role::Editor, "hash-1")
    );
    assert_eq!((token.last_used_at, token.revoked_at), (None, None));
    match store.create_token("ci", Role::Admin, "hash-2").await {
        Err(StoreError::Duplicate(what)) => assert_eq!(what, r#"token "ci""#),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert!(matches!(
        store.create_token("other", Role::Admin, "hash-1").await,
        Err(StoreError::Duplicate(_))
    ));

    assert_eq!(
        store.token_by_hash("hash-1").await.expect("read"),
        Some(token.clone())
    );
    assert_eq!(store.token_by_hash("nope").await.expect("read"), None);
    let used = Utc::now().trunc_subsecs(6);
    store.touch_token("ci", used).await.expect("touch");
    store
        .touch_token("unknown", used)
        .await
        .expect("touching no token is harmless");
    let touched = store
        .token_by_hash("hash-1")
        .await
        .expect("read")
        .expect("token");
    assert_eq!(touched.last_used_at, Some(used));

    store.revoke_token("ci").await.expect("revoke");
    assert_eq!(store.token_by_hash("hash-1").await.expect("read"), None);
    assert!(matches!(
        store.revoke_token("ci").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.revoke_token("never").await,
        Err(StoreError::NotFound)
    ));

    let again = store
        .create_token("ci", Role::Admin, "hash-3")
        .await
        .expect("name is free again");
    let all = store.tokens().await.expect("list");
    assert_eq!(all.len(), 2);
    assert_eq!(
        (all[0].hash.as_str(), all[1].hash.as_str()),
        ("hash-1", "hash-3")
    );
    assert!(all[0].revoked_at.is_some());
    assert_eq!(all[1], again);
}
