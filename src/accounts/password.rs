//! Password hashing: Argon2id with OWASP's minimum parameters (19 MiB of
//! memory, 2 passes, 1 lane), a 16-byte random salt per hash, stored as a
//! PHC string so the parameters can be raised later without breaking old
//! hashes (each hash names its own). About 30 ms of one core per hash or
//! check: run on a blocking thread, never on a request worker.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory in KiB, passes, lanes: OWASP's Password Storage Cheat Sheet's
/// first Argon2id configuration.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

/// Shortest password accepted (NIST SP 800-63B asks for at least 8; a
/// newsroom account can publish to millions, so 12).
pub const MIN_LEN: usize = 12;
/// Longest: hashing cost grows with the input, so a megabyte "password"
/// must not reach the hasher.
pub const MAX_LEN: usize = 256;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password is not acceptable, in words for the person choosing it.
pub fn check_strength(password: &str, email: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(format!("must be at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} bytes"));
    }
    if password.eq_ignore_ascii_case(email) {
        return Err("must not be the email address".into());
    }
    Ok(())
}

/// The PHC string of a new hash of `password`.
pub fn hash(password: &str) -> String {
    let bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt");
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters cannot fail")
        .to_string()
}

/// Whether `password` matches the PHC string (constant-time comparison of
/// the derived keys; a malformed stored hash never matches).
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of nothing anyone knows, checked when the email is unknown so
/// that "no such account" takes as long as "wrong password".
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&crate::auth::generate_token()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_the_documented_parameters() {
        let phc = hash("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterz", &phc));
        assert_ne!(phc, hash("correct horse battery"), "salted");
        assert!(!verify("x", "not a phc string"));
        assert!(!verify(&"a".repeat(MAX_LEN + 1), &phc));
    }

    #[test]
    fn weak_passwords_are_named() {
        assert!(check_strength("short", "a@b.c").unwrap_err().contains("12"));
        assert!(check_strength("ed@example.com", "ed@example.com").is_err());
        assert!(check_strength(&"x".repeat(300), "a@b.c").is_err());
        assert!(check_strength("a long enough one", "a@b.c").is_ok());
    }
}
