//! Password hashing (argon2id, PHC strings) and the password policy applied when a password is set.
//!
//! Hashing follows the OWASP Password Storage Cheat Sheet minimum for argon2id (19 MiB, 2 passes,
//! 1 lane) and RFC 9106. The policy follows the architecture's rule (≥ 12 characters with upper,
//! lower, digit and symbol) plus NIST SP 800-63B §5.1.1.2: refuse common and context-specific passwords.
//!
//! `common_passwords.txt` is Django's `django/contrib/auth/common-passwords.txt.gz` (Django 5.2.19 wheel
//! on PyPI, BSD-3-Clause), decompressed and unchanged: 19,640 lowercased, deduplicated passwords from
//! Royce Williams' list of the 20,000 most common passwords
//! (https://gist.github.com/roycewilliams/226886fd01572964e1431ac8afc999ce). Its licence, which must
//! also travel with binaries that embed the list:
//!
//! ```text
//! Copyright (c) Django Software Foundation and individual contributors.
//! All rights reserved.
//!
//! Redistribution and use in source and binary forms, with or without modification,
//! are permitted provided that the following conditions are met:
//!
//!     1. Redistributions of source code must retain the above copyright notice,
//!        this list of conditions and the following disclaimer.
//!
//!     2. Redistributions in binary form must reproduce the above copyright
//!        notice, this list of conditions and the following disclaimer in the
//!        documentation and/or other materials provided with the distribution.
//!
//!     3. Neither the name of Django nor the names of its contributors may be used
//!        to endorse or promote products derived from this software without
//!        specific prior written permission.
//!
//! THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND
//! ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED
//! WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
//! DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT OWNER OR CONTRIBUTORS BE LIABLE FOR
//! ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES
//! (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES;
//! LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON
//! ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
//! (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
//! SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
//! ```

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2 cost parameters. Construct with [`PasswordParams::new`] so that invalid combinations are
/// refused once, at start-up, rather than on every login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl Default for PasswordParams {
    /// OWASP's first argon2id configuration: m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

impl PasswordParams {
    /// Validated parameters (argon2 requires memory ≥ 8 KiB per lane, iterations ≥ 1, lanes ≥ 1).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, PasswordError> {
        let params = Self { memory_kib, iterations, parallelism };
        params.argon2()?;
        Ok(params)
    }

    /// The cheapest valid setting, for tests that hash many passwords; never use it in production.
    pub fn fast_for_tests() -> Self {
        Self { memory_kib: 8, iterations: 1, parallelism: 1 }
    }

    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    fn argon2(&self) -> Result<Argon2<'static>, PasswordError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(PasswordError::InvalidParams)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    InvalidParams(argon2::Error),
    #[error("failed to hash password: {0}")]
    Hash(argon2::password_hash::Error),
}

/// Hashes with argon2id and a fresh 128-bit salt from the OS, returning a PHC string
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) that carries its own parameters.
pub fn hash_password(password: &str, params: &PasswordParams) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = params.argon2()?.hash_password(password.as_bytes(), &salt).map_err(PasswordError::Hash)?;
    Ok(hash.to_string())
}

/// Verifies against a PHC string using the parameters recorded in it, so raising the cost later does
/// not lock out existing users. Any malformed or non-argon2 hash is simply a mismatch.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // The output comparison inside `verify_password` is constant-time (password-hash `Output: Eq`).
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Whether a stored hash was made with other parameters than `params` (or is not argon2id at all),
/// so the login path can rehash it while it has the plaintext.
pub fn needs_rehash(phc: &str, params: &PasswordParams) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(stored) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm != Algorithm::Argon2id.ident()
        || parsed.version != Some(Version::V0x13.into())
        || stored.m_cost() != params.memory_kib
        || stored.t_cost() != params.iterations
        || stored.p_cost() != params.parallelism
}

/// Spends the time of one [`verify_password`] at `params`, for logins naming an unknown user: without
/// it the fast "no such user" answer would tell an attacker which accounts exist.
pub fn dummy_verify(params: &PasswordParams) {
    const DUMMY_SALT: &[u8] = b"auterity-dummy-salt-16b";
    let Ok(argon2) = params.argon2() else {
        return;
    };
    let mut output = [0u8; 32];
    let outcome = argon2.hash_password_into(b"not a real password", DUMMY_SALT, &mut output);
    // Keep the optimiser from discarding work whose result nobody reads.
    std::hint::black_box((outcome.is_ok(), output));
}

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect()
});

/// Whether `password` (case-insensitively) is on the embedded common-password list.
pub fn is_common_password(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.to_lowercase().as_str())
}

/// Names shorter than this are too generic to forbid inside passwords ("al", "jo").
const MIN_NAME_CHARS_FOR_SIMILARITY: usize = 3;
/// Normalised Levenshtein similarity (1 − distance / longer length) at or above which a password is
/// "too similar"; 0.7 is the threshold Django's UserAttributeSimilarityValidator uses for its ratio.
const MAX_SIMILARITY: f64 = 0.7;
/// Bounds the quadratic edit-distance work on hostile input.
const MAX_CHARS_FOR_EDIT_DISTANCE: usize = 256;

/// Rules checked when a password is set or changed (never at login, so tightening them locks no one out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in Unicode scalar values.
    pub min_len: usize,
    /// Maximum length in Unicode scalar values; bounds hashing cost and stays well above any passphrase.
    pub max_len: usize,
    /// Require at least one uppercase letter, lowercase letter, digit and symbol.
    pub require_composition: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_len: 12, max_len: 128, require_composition: true }
    }
}

impl PasswordPolicy {
    /// Returns every violation, as messages fit to show the user, so they can fix all at once.
    ///
    /// Similarity to the username or the email's local part (each only when ≥ 3 characters), compared
    /// lowercase both as typed and with non-alphanumerics removed: the password contains the name, the
    /// name contains the password, or their normalised Levenshtein similarity is ≥ 0.7.
    pub fn check(&self, password: &str, username: &str, email: &str) -> Result<(), Vec<String>> {
        let mut violations = Vec::new();
        let length = password.chars().count();
        if length < self.min_len {
            violations.push(format!("password must be at least {} characters long", self.min_len));
        }
        if length > self.max_len {
            violations.push(format!("password must be at most {} characters long", self.max_len));
        }
        if self.require_composition {
            let has = |is_member: fn(char) -> bool| password.chars().any(is_member);
            let classes = [
                (has(char::is_uppercase), "an uppercase letter"),
                (has(char::is_lowercase), "a lowercase letter"),
                (has(char::is_numeric), "a digit"),
                // Anything that is not a letter or digit counts, spaces included, so passphrases qualify.
                (has(|c| !c.is_alphanumeric()), "a symbol"),
            ];
            for (present, name) in classes {
                if !present {
                    violations.push(format!("password must contain {name}"));
                }
            }
        }
        if is_common_password(password) {
            violations.push("password is too common".to_owned());
        } else {
            // "Password123!" is "password" with the usual decorations; refuse the decorated form too.
            let base = password.trim_end_matches(|c: char| !c.is_alphabetic());
            if !base.is_empty() && is_common_password(base) {
                violations.push("password is a common password with digits or symbols added".to_owned());
            }
        }
        let email_local = email.rsplit_once('@').map_or(email, |(local, _)| local);
        for (name, what) in [(username, "username"), (email_local, "email address")] {
            if is_similar(password, name) {
                violations.push(format!("password is too similar to the {what}"));
            }
        }
        if violations.is_empty() { Ok(()) } else { Err(violations) }
    }
}

fn is_similar(password: &str, name: &str) -> bool {
    let password = password.to_lowercase();
    let name = name.to_lowercase();
    let alphanumeric = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).collect::<String>();
    [(password.clone(), name.clone()), (alphanumeric(&password), alphanumeric(&name))]
        .iter()
        .any(|(password, name)| similar_forms(password, name))
}

fn similar_forms(password: &str, name: &str) -> bool {
    if name.chars().count() < MIN_NAME_CHARS_FOR_SIMILARITY || password.is_empty() {
        return false;
    }
    if password.contains(name) || name.contains(password) {
        return true;
    }
    let password: Vec<char> = password.chars().collect();
    let name: Vec<char> = name.chars().collect();
    if password.len() > MAX_CHARS_FOR_EDIT_DISTANCE || name.len() > MAX_CHARS_FOR_EDIT_DISTANCE {
        return false;
    }
    let longer = password.len().max(name.len());
    let similarity = 1.0 - levenshtein(&password, &name) as f64 / longer as f64;
    similarity >= MAX_SIMILARITY
}

/// Edit distance (insertions, deletions, substitutions) with two rolling rows.
fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG: &str = "Tr0ub4dor&3-horse";

    #[test]
    fn default_params_are_the_owasp_minimum() {
        let params = PasswordParams::default();
        assert_eq!((params.memory_kib(), params.iterations(), params.parallelism()), (19_456, 2, 1));
        let hash = hash_password("correct horse", &params).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!needs_rehash(&hash, &params));
    }

    #[test]
    fn hash_and_verify_round_trip() {
        let params = PasswordParams::fast_for_tests();
        let hash = hash_password(STRONG, &params).unwrap();
        assert!(verify_password(STRONG, &hash));
        assert!(!verify_password("tr0ub4dor&3-horse", &hash));
        assert!(!verify_password("", &hash));
        // Fresh salt each time.
        assert_ne!(hash, hash_password(STRONG, &params).unwrap());
    }

    #[test]
    fn verify_uses_the_parameters_in_the_hash() {
        let old = hash_password(STRONG, &PasswordParams::fast_for_tests()).unwrap();
        assert!(verify_password(STRONG, &old));
        assert!(needs_rehash(&old, &PasswordParams::default()));
        assert!(!needs_rehash(&old, &PasswordParams::fast_for_tests()));
    }

    #[test]
    fn verify_rejects_malformed_hashes() {
        for phc in [
            "",
            "plain",
            "$argon2id$",
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
        ] {
            assert!(!verify_password("anything", phc), "{phc}");
            assert!(needs_rehash(phc, &PasswordParams::default()), "{phc}");
        }
    }

    #[test]
    fn params_are_validated() {
        assert!(PasswordParams::new(19_456, 2, 1).is_ok());
        assert!(PasswordParams::new(4, 1, 1).is_err());
        assert!(PasswordParams::new(64, 0, 1).is_err());
        assert!(PasswordParams::new(64, 1, 0).is_err());
    }

    #[test]
    fn dummy_verify_runs_for_valid_and_invalid_params() {
        dummy_verify(&PasswordParams::fast_for_tests());
        dummy_verify(&PasswordParams { memory_kib: 0, iterations: 0, parallelism: 0 });
    }

    #[test]
    fn common_list_is_loaded() {
        assert!(COMMON_PASSWORDS.len() >= 10_000, "{}", COMMON_PASSWORDS.len());
        assert!(is_common_password("password"));
        assert!(is_common_password("PassWord"));
        assert!(is_common_password("qwertyuiop"));
        assert!(!is_common_password(STRONG));
    }

    #[test]
    fn strong_password_passes() {
        assert_eq!(PasswordPolicy::default().check(STRONG, "alice", "alice@example.com"), Ok(()));
        assert_eq!(PasswordPolicy::default().check("Ünïcödé-Pässwörd-7", "bob", "bob@example.com"), Ok(()));
    }

    #[test]
    fn every_violation_is_reported() {
        let violations = PasswordPolicy::default().check("abc", "someone", "someone@example.com").unwrap_err();
        assert_eq!(
            violations,
            vec![
                "password must be at least 12 characters long",
                "password must contain an uppercase letter",
                "password must contain a digit",
                "password must contain a symbol",
                "password is too common",
            ]
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let policy = PasswordPolicy { min_len: 12, max_len: 16, require_composition: false };
        // 11 characters, 22 bytes.
        assert!(policy.check("ééééééééééé", "", "").is_err());
        assert_eq!(policy.check("éééééééééééé", "", ""), Ok(()));
        let long = "Xy7!".repeat(5);
        assert_eq!(policy.check(&long, "", ""), Err(vec!["password must be at most 16 characters long".to_owned()]));
    }

    #[test]
    fn composition_can_be_disabled() {
        let policy = PasswordPolicy { require_composition: false, ..PasswordPolicy::default() };
        assert_eq!(policy.check("lowercase only passphrase", "", ""), Ok(()));
        assert!(PasswordPolicy::default().check("lowercase only passphrase", "", "").is_err());
    }

    #[test]
    fn decorated_common_passwords_are_rejected() {
        let violations = PasswordPolicy::default().check("Password1234!", "x", "x@example.com").unwrap_err();
        assert_eq!(violations, vec!["password is a common password with digits or symbols added"]);
        assert!(PasswordPolicy::default().check("Iloveyou2024!!", "x", "").is_err());
        assert!(
            PasswordPolicy::default()
                .check("QWERTYUIOP", "", "")
                .unwrap_err()
                .contains(&"password is too common".to_owned())
        );
    }

    #[test]
    fn passwords_similar_to_the_user_are_rejected() {
        let policy = PasswordPolicy::default();
        let username = |p: &str, u: &str| policy.check(p, u, "").err().unwrap_or_default();
        let too_similar_user = "password is too similar to the username".to_owned();
        // Contains the name.
        assert!(username("Xy7!-MARGARET-9q", "margaret").contains(&too_similar_user));
        // Contains it once separators are ignored.
        assert!(username("Xy7!JohnSmith-9q", "john_smith").contains(&too_similar_user));
        // Close edit distance.
        assert!(username("Jonathan.Smit9!", "jonathan.smith").contains(&too_similar_user));
        // The name contains the password.
        assert!(username("Ab1!efghijkl", "xxab1!efghijklxx").contains(&too_similar_user));
        // Short names are ignored.
        assert!(!username("Xy7!-al-horse-9q", "al").contains(&too_similar_user));
        assert!(!username(STRONG, "margaret").contains(&too_similar_user));

        let violations = policy.check("Carol.Danvers-77", "cd", "carol.danvers@example.com").unwrap_err();
        assert_eq!(violations, vec!["password is too similar to the email address"]);
    }

    #[test]
    fn levenshtein_distances() {
        let d = |a: &str, b: &str| levenshtein(&a.chars().collect::<Vec<_>>(), &b.chars().collect::<Vec<_>>());
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("flaw", "lawn"), 2);
        assert_eq!(d("same", "same"), 0);
    }
}
