//! The development login: HS256 tokens naming the user, with an expiry.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// A user name: 1–32 characters, no control characters.
pub const MAX_NAME_CHARS: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user name.
    sub: String,
    /// Expiry, epoch seconds.
    exp: u64,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_s: u64,
}

impl Auth {
    pub fn new(secret: &[u8], ttl_s: u64) -> Auth {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_s,
        }
    }

    /// A token for `name`, valid for `ttl_s` from `now_s`; returns it with its expiry (epoch s).
    pub fn issue(&self, name: &str, now_s: u64) -> (String, u64) {
        let exp = now_s + self.ttl_s;
        let claims = Claims {
            sub: name.to_owned(),
            exp,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail");
        (token, exp)
    }

    /// The user a token names, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<String, String> {
        match decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims.sub),
            Err(e) => Err(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "expired token".to_owned(),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "bad token signature".to_owned()
                }
                _ => format!("bad token: {e}"),
            }),
        }
    }
}

/// Checks a login name: trimmed, 1–32 characters, no control characters.
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("name is empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("name is longer than {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("name contains control characters".into());
    }
    Ok(name.to_owned())
}
