//! Webhook signatures in the Standard Webhooks scheme, both ways: the
//! `webhook-signature` header is `v1,` and the base64 HMAC-SHA256 of
//! `id.timestamp.body` under the shared secret, so that the id and the
//! time are signed with the body and a capture cannot be replayed later
//! or under another id. Several space-separated signatures may be sent
//! (one per secret while a secret is rotated); one valid is enough.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The HMAC key of a configured secret: a `whsec_` secret is the base64 of
/// the key (the scheme's own format); any other text is the key as it is.
pub fn webhook_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

fn signing_key(key: &[u8]) -> ring::hmac::Key {
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key)
}

/// What is signed: `id.timestamp.body`, fed to the HMAC in three parts.
fn tag(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> ring::hmac::Tag {
    let mut ctx = ring::hmac::Context::with_key(&signing_key(key));
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// The `webhook-signature` value for one message: `v1,<base64>`.
pub fn sign_v1(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(tag(key, id, timestamp, body)))
}

/// Whether any `v1,` signature of the space-separated `header` signs
/// `id.timestamp.body` under `key`; compared in constant time.
pub fn verify_v1(key: &[u8], id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let mut msg = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    msg.extend_from_slice(id.as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(timestamp.as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(body);
    let k = signing_key(key);
    header
        .split_ascii_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|sig| ring::hmac::verify(&k, &msg, &sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let key = webhook_key("a-secret-of-16-chars");
        let sig = sign_v1(&key, "msg_1", "1700000000", b"{\"a\":1}");
        assert!(sig.starts_with("v1,"), "{sig}");
        assert!(verify_v1(&key, "msg_1", "1700000000", b"{\"a\":1}", &sig));
        assert!(!verify_v1(&key, "msg_2", "1700000000", b"{\"a\":1}", &sig));
        assert!(!verify_v1(&key, "msg_1", "1700000001", b"{\"a\":1}", &sig));
        assert!(!verify_v1(&key, "msg_1", "1700000000", b"{\"a\":2}", &sig));
        let other = webhook_key("another-secret-16-chars");
        assert!(!verify_v1(
            &other,
            "msg_1",
            "1700000000",
            b"{\"a\":1}",
            &sig
        ));
    }

    #[test]
    fn one_good_signature_among_several_is_enough() {
        let (old, new) = (
            webhook_key("old-secret-16-chars"),
            webhook_key("new-secret-16-chars"),
        );
        let both = format!(
            "{} {}",
            sign_v1(&old, "i", "1", b"x"),
            sign_v1(&new, "i", "1", b"x")
        );
        assert!(verify_v1(&new, "i", "1", b"x", &both));
        assert!(verify_v1(&old, "i", "1", b"x", &both));
        assert!(!verify_v1(&new, "i", "1", b"x", "v2,AAAA garbage v1,!!"));
    }

    #[test]
    fn whsec_secrets_are_base64_keys() {
        assert_eq!(webhook_key("whsec_AQID"), vec![1, 2, 3]);
        assert_eq!(webhook_key("plain-secret"), b"plain-secret".to_vec());
    }

    #[test]
    fn matches_an_independent_hmac_of_the_joined_message() {
        // HMAC-SHA256("key", "id.5.body") computed over the joined bytes.
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"key");
        let want = STANDARD.encode(ring::hmac::sign(&key, b"id.5.body"));
        assert_eq!(sign_v1(b"key", "id", "5", b"body"), format!("v1,{want}"));
    }
}
