//! API token secrets: generation and the hash that is all the store keeps.
//! Verification against stored hashes (constant time) lives with the API.

use sha2::{Digest, Sha256};

/// Prefix that makes a leaked token recognisable to secret scanners.
const TOKEN_PREFIX: &str = "keel_";

/// A new bearer secret: 32 random bytes from the OS generator, hex encoded.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// Lowercase hex SHA-256 of the secret. A fast hash is right here: the
/// secret carries 256 bits of entropy, so there is nothing to brute-force.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_prefixed() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with("keel_"));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
