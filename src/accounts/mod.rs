//! People who sign in to `/admin`: accounts (Argon2id passwords, see
//! [`password`]), server-side sessions kept in the store (revocable, with
//! idle and absolute expiry), the CSRF token each session carries, the
//! sign-in rate limit and the audit log of editorial and admin actions.
//! Nothing here speaks HTTP; the app (`crate::admin`) and the API's
//! authentication use it. Readers never reach it.

pub mod password;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::auth::{generate_token, hash_token};
use crate::model::EntryId;
use crate::store::{
    AuditRecord, NewAudit, NewUser, Role, Session, Store, StoreError, User, UserChange, UserId,
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "keel_session";

/// Failed sign-ins allowed within [`LIMIT_WINDOW`]; past any of them,
/// sign-in is refused without checking the password until the window has
/// moved on. Guessing at one account from one address stops after
/// [`LIMIT_PER_ACCOUNT_AND_ADDRESS`] without locking its owner out
/// elsewhere (five wrong guesses from anywhere must not keep an editor out
/// on match day); guessing at it from many addresses stops at
/// [`LIMIT_PER_ACCOUNT`]; one address guessing across accounts stops at
/// [`LIMIT_PER_ADDRESS`]. Behind a CDN or load balancer, the address is
/// the client's only with `--trusted-proxy` (see [`crate::client`]).
pub const LIMIT_PER_ACCOUNT_AND_ADDRESS: i64 = 5;
pub const LIMIT_PER_ACCOUNT: i64 = 50;
pub const LIMIT_PER_ADDRESS: i64 = 20;
pub const LIMIT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A session's activity is written at most this often.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// How long sessions live and how their cookie is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ended after this long without a request.
    pub idle: Duration,
    /// Ended this long after sign-in, whatever the activity.
    pub absolute: Duration,
    /// Send the cookie only over HTTPS (`Secure`).
    pub secure_cookie: bool,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(2 * 3600),
            absolute: Duration::from_secs(12 * 3600),
            secure_cookie: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Wrong email or password, or a disabled account: one message for
    /// all, so sign-in does not tell which accounts exist.
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again in {} minutes", .retry_after.as_secs().div_ceil(60))]
    TooManyAttempts { retry_after: Duration },
    /// A field of an account is not acceptable: (field, reason).
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who did something: a person, a machine's token, or keel itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person's email, the token's name, or `scheduler`/`cli`.
    pub name: String,
    pub kind: ActorKind,
    pub role: Role,
    /// Where the request came from (empty for keel itself).
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    User,
    Token,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::System => "system",
        }
    }
}

/// A signed-in browser: its session, its account and the cookie secret.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub secret: String,
    pub session: Session,
    pub user: User,
}

/// Accounts, sessions and the audit log on top of the store.
pub struct Accounts {
    store: Arc<dyn Store>,
    policy: SessionPolicy,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, policy: SessionPolicy) -> Self {
        Accounts { store, policy }
    }

    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A new account, its password checked and hashed.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<User, AccountError> {
        let email = normalize_email(email)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AccountError::Invalid(
                "name",
                "must be 1 to 100 characters".into(),
            ));
        }
        password::check_strength(password, &email)
            .map_err(|reason| AccountError::Invalid("password", reason))?;
        let password_hash = hashed(password).await;
        let user = NewUser {
            email,
            name: name.to_owned(),
            role,
            password_hash,
        };
        Ok(self.store.create_user(&user).await?)
    }

    /// A new password; every session of the account ends.
    pub async fn reset_password(&self, user: &User, password: &str) -> Result<User, AccountError> {
        password::check_strength(password, &user.email)
            .map_err(|reason| AccountError::Invalid("password", reason))?;
        let change = UserChange {
            password_hash: Some(hashed(password).await),
            ..UserChange::default()
        };
        Ok(self.store.update_user(user.id, &change).await?)
    }

    /// Disables (every session ends at once) or enables an account.
    pub async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<User, AccountError> {
        let change = UserChange {
            disabled: Some(disabled),
            ..UserChange::default()
        };
        Ok(self.store.update_user(id, &change).await?)
    }

    /// Checks the password and opens a session. Refused without checking
    /// while the account or the address is over its failure limit; a
    /// failure is recorded in the audit log (which is what the limit counts).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: &str,
        user_agent: &str,
    ) -> Result<SignedIn, AccountError> {
        let email = email.trim().to_lowercase();
        let since = Utc::now() - LIMIT_WINDOW;
        let store = &self.store;
        let failed = "login.failed";
        let over = store
            .count_audit(failed, Some(&email), Some(address), since)
            .await?
            >= LIMIT_PER_ACCOUNT_AND_ADDRESS
            || store
                .count_audit(failed, None, Some(address), since)
                .await?
                >= LIMIT_PER_ADDRESS
            || store.count_audit(failed, Some(&email), None, since).await? >= LIMIT_PER_ACCOUNT;
        if over {
            return Err(AccountError::TooManyAttempts {
                retry_after: LIMIT_WINDOW,
            });
        }
        let user = self.store.user_by_email(&email).await?;
        let stored = user
            .as_ref()
            .map_or_else(|| password::decoy().to_owned(), |u| u.password_hash.clone());
        let matches = verified(password, stored).await;
        let user = match user {
            Some(user) if matches && user.disabled_at.is_none() => user,
            _ => {
                let failed = NewAudit {
                    actor: email.clone(),
                    actor_kind: ActorKind::User.as_str().into(),
                    action: "login.failed".into(),
                    target: email,
                    entry_id: None,
                    detail: Value::Null,
                    address: address.to_owned(),
                };
                self.store.record_audit(&failed).await?;
                return Err(AccountError::InvalidCredentials);
            }
        };
        let secret = generate_token();
        let now = Utc::now();
        let session = Session {
            id_hash: hash_token(&secret),
            user_id: user.id,
            csrf: generate_token(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.policy.absolute,
            address: address.to_owned(),
            user_agent: user_agent.chars().take(300).collect(),
        };
        self.store.create_session(&session).await?;
        let actor = Actor::person(&user, address);
        self.record(
            &actor,
            "login",
            &format!("user/{}", user.email),
            None,
            Value::Null,
        )
        .await;
        Ok(SignedIn {
            secret,
            session,
            user,
        })
    }

    /// The live session a cookie secret names: it exists, its account is
    /// enabled, and neither its idle nor its absolute time has run out.
    /// An expired one is deleted. Activity is recorded (at most a minute
    /// apart).
    pub async fn session(&self, secret: &str) -> Result<Option<(Session, User)>, AccountError> {
        let id_hash = hash_token(secret);
        let Some((session, user)) = self.store.session(&id_hash).await? else {
            return Ok(None);
        };
        // The lookup is by hash; compare again in constant time anyway.
        if !bool::from(session.id_hash.as_bytes().ct_eq(id_hash.as_bytes())) {
            return Ok(None);
        }
        let now = Utc::now();
        if now >= session.expires_at || now >= session.last_seen_at + self.policy.idle {
            self.store.delete_session(&id_hash).await?;
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_EVERY {
            self.store.touch_session(&id_hash, now).await?;
        }
        Ok(Some((session, user)))
    }

    /// Ends the session (signing out) and records it.
    pub async fn sign_out(&self, session: &Session, actor: &Actor) -> Result<(), AccountError> {
        self.store.delete_session(&session.id_hash).await?;
        self.record(
            actor,
            "logout",
            &format!("user/{}", actor.name),
            None,
            Value::Null,
        )
        .await;
        Ok(())
    }

    /// Appends to the audit log. Best effort: the action itself has
    /// happened (an entry's revision records it durably), so a failure
    /// here is logged, not returned.
    pub async fn record(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        entry_id: Option<EntryId>,
        detail: Value,
    ) -> Option<AuditRecord> {
        let record = NewAudit {
            actor: actor.name.clone(),
            actor_kind: actor.kind.as_str().into(),
            action: action.into(),
            target: target.into(),
            entry_id,
            detail,
            address: actor.address.clone(),
        };
        match self.store.record_audit(&record).await {
            Ok(stored) => Some(stored),
            Err(e) => {
                tracing::warn!(action, target, error = %e, "could not record an audit entry");
                None
            }
        }
    }
}

impl Actor {
    pub fn person(user: &User, address: &str) -> Actor {
        Actor {
            name: user.email.clone(),
            kind: ActorKind::User,
            role: user.role,
            address: address.to_owned(),
        }
    }

    pub fn system(name: &str) -> Actor {
        Actor {
            name: name.to_owned(),
            kind: ActorKind::System,
            role: Role::Admin,
            address: String::new(),
        }
    }
}

/// Whether a request's CSRF token is the session's (constant time).
pub fn csrf_matches(session: &Session, presented: &str) -> bool {
    !presented.is_empty() && bool::from(session.csrf.as_bytes().ct_eq(presented.as_bytes()))
}

/// Trimmed and lowercased, with one `@` between a non-empty local part
/// and a domain with a dot.
pub fn normalize_email(raw: &str) -> Result<String, AccountError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AccountError::Invalid(
            "email",
            format!("{raw:?} is not an email address"),
        ))
    }
}

async fn hashed(password: &str) -> String {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .expect("hashing does not panic")
}

async fn verified(password: &str, phc: String) -> bool {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || password::verify(&password, &phc))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email(" Ed@Example.COM ").unwrap(),
            "ed@example.com"
        );
        for bad in [
            "",
            "ed",
            "@example.com",
            "ed@example",
            "ed@.com",
            "e d@x.com",
            "a@b@c.d",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
