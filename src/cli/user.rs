//! `keel user`: accounts for the people who sign in to `/admin`, for the
//! operator who sets the first ones up (there is no sign-up page).

use std::io::BufRead;

use clap::Subcommand;

use super::RoleArg;
use crate::accounts::{Accounts, Actor, SessionPolicy, normalize_email};
use crate::store::{Store, User};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. Prints a generated password unless --password-stdin.
    Create {
        /// Sign-in email (stored lowercase).
        #[arg(long)]
        email: String,
        /// The name shown in the app and in the audit log.
        #[arg(long)]
        name: String,
        /// writer (drafts, review requests), editor (also publishing), admin (also accounts and settings).
        #[arg(long, value_enum, default_value_t = RoleArg::Writer)]
        role: RoleArg,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts (never their passwords).
    List,
    /// Disable an account: it cannot sign in and its sessions end at once.
    Disable { email: String },
    /// Enable a disabled account again.
    Enable { email: String },
    /// Set a new password (every session of the account ends). Prints a
    /// generated one unless --password-stdin.
    ResetPassword {
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

/// A password from standard input, or a new random one to print.
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        return Ok((line, false));
    }
    // 24 characters from a 32-symbol alphabet: 120 bits.
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789-";
    let bytes: [u8; 24] = rand::random();
    let generated = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    Ok((generated, true))
}

async fn existing(store: &dyn Store, email: &str) -> anyhow::Result<User> {
    let email = normalize_email(email)?;
    store
        .user_by_email(&email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account with email {email:?}"))
}

pub async fn run(store: std::sync::Arc<dyn Store>, command: UserCommand) -> anyhow::Result<()> {
    let accounts = Accounts::new(store.clone(), SessionPolicy::default());
    let cli = Actor::system("cli");
    match command {
        UserCommand::Create {
            email,
            name,
            role,
            password_stdin,
        } => {
            let (password, generated) = password(password_stdin)?;
            let user = accounts
                .create_user(&email, &name, role.into(), &password)
                .await?;
            let target = format!("user/{}", user.email);
            let detail = serde_json::json!({ "role": user.role.as_str() });
            accounts
                .record(&cli, "user.create", &target, None, detail)
                .await;
            eprintln!("created {} ({})", user.email, user.role.as_str());
            if generated {
                println!("{password}");
            }
        }
        UserCommand::List => {
            println!("{:<32} {:<24} {:<7} disabled", "email", "name", "role");
            for u in store.users().await? {
                let disabled = u
                    .disabled_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<32} {:<24} {:<7} {disabled}",
                    u.email,
                    u.name,
                    u.role.as_str()
                );
            }
        }
        UserCommand::Disable { email } => {
            let user = existing(store.as_ref(), &email).await?;
            accounts.set_disabled(user.id, true).await?;
            let target = format!("user/{}", user.email);
            accounts
                .record(&cli, "user.disable", &target, None, serde_json::Value::Null)
                .await;
            eprintln!("disabled {}; its sessions ended", user.email);
        }
        UserCommand::Enable { email } => {
            let user = existing(store.as_ref(), &email).await?;
            accounts.set_disabled(user.id, false).await?;
            let target = format!("user/{}", user.email);
            accounts
                .record(&cli, "user.enable", &target, None, serde_json::Value::Null)
                .await;
            eprintln!("enabled {}", user.email);
        }
        UserCommand::ResetPassword {
            email,
            password_stdin,
        } => {
            let user = existing(store.as_ref(), &email).await?;
            let (password, generated) = password(password_stdin)?;
            accounts.reset_password(&user, &password).await?;
            let target = format!("user/{}", user.email);
            accounts
                .record(
                    &cli,
                    "user.reset-password",
                    &target,
                    None,
                    serde_json::Value::Null,
                )
                .await;
            eprintln!("new password set for {}; its sessions ended", user.email);
            if generated {
                println!("{password}");
            }
        }
    }
    Ok(())
}
