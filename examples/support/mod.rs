//! What the examples that drive the real `keel` binary share.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Builds the release binary (a no-op when up to date) and returns its path.
pub fn build_keel() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "keel"])
        .status()?;
    if !status.success() {
        bail!("building keel failed");
    }
    let exe = std::env::current_exe()?;
    // target/release/examples/NAME -> target/release/keel
    let keel = exe
        .parent()
        .and_then(Path::parent)
        .context("no target directory")?
        .join("keel");
    Ok(keel)
}

/// A loopback port nothing listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
