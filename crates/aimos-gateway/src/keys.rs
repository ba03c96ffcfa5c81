//! Gateway keys: bearer secrets whose SHA-256 alone is stored, each with an optional budget in
//! dollars and an optional rate limit in requests a minute.
//!
//! While no key exists the gateway is open (a local, single-user setup); once one exists every
//! request needs a valid one. A budget is checked before a request starts and charged when it
//! ends, so concurrent requests overspend it by at most what they cost together. A rate limit is
//! counted in the store, so replicas sharing it enforce one limit together.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aimos_core::{KeyRecord, Store};
use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::{AppState, blocking};

/// Lower-case hex SHA-256 of a secret: what the store keeps.
pub fn hash_secret(secret: &str) -> String {
    aimos_core::hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `a` and `b` are equal, in time that depends on their lengths only.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// A new secret: `aimos-` and 64 hex digits from two random UUIDs (244 random bits).
pub fn new_secret() -> String {
    format!("aimos-{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Creates a key in `store`, working in the shared insight namespace; returns the record and
/// the secret, which exists nowhere else.
pub fn create(
    store: &dyn Store,
    name: &str,
    budget_usd: Option<f64>,
    rpm: Option<u32>,
) -> Result<(KeyRecord, String), String> {
    create_in(store, name, budget_usd, rpm, None, false)
}

/// [`create`], the key working in insight namespace `namespace`: its runs recall that
/// namespace's insights and the shared ones, and store theirs there. An `admin` key may also
/// open the dashboard, which shows every namespace.
pub fn create_in(
    store: &dyn Store,
    name: &str,
    budget_usd: Option<f64>,
    rpm: Option<u32>,
    namespace: Option<&str>,
    admin: bool,
) -> Result<(KeyRecord, String), String> {
    if namespace.is_some_and(|n| n.trim().is_empty()) {
        return Err("a namespace needs a name".into());
    }
    if name.trim().is_empty() {
        return Err("a key needs a name".into());
    }
    if let Some(budget) = budget_usd.filter(|b| !b.is_finite() || *b < 0.0) {
        return Err(format!("the budget must be zero or more dollars, not {budget}"));
    }
    if rpm == Some(0) {
        return Err("a rate limit of 0 requests a minute would refuse everything".into());
    }
    let secret = new_secret();
    let record = KeyRecord {
        id: aimos_core::ids::new_id(),
        name: name.to_owned(),
        hash: hash_secret(&secret),
        budget_usd,
        spent_usd: 0.0,
        rpm,
        created_at: aimos_core::ids::now_rfc3339(),
        revoked_at: None,
        namespace: namespace.map(str::to_owned),
        admin,
    };
    store.create_key(&record).map_err(|err| err.to_string())?;
    Ok((record, secret))
}

/// Checks requests against the stored keys.
pub struct Keys {
    store: Arc<dyn Store>,
    /// Whether any unrevoked key exists, and when that was last read.
    any: Mutex<Option<(Instant, bool)>>,
}

/// How long the answer to "are there keys?" is reused.
const ANY_KEYS_TTL: Duration = Duration::from_secs(2);

impl Keys {
    pub fn new(store: Arc<dyn Store>) -> Keys {
        Keys { store, any: Mutex::new(None) }
    }

    /// Whether any unrevoked key exists, as read within [`ANY_KEYS_TTL`], if it was.
    fn any_keys_recently(&self) -> Option<bool> {
        let any = self.any.lock().unwrap_or_else(|p| p.into_inner());
        any.filter(|(at, _)| at.elapsed() < ANY_KEYS_TTL).map(|(_, value)| value)
    }

    fn any_keys(&self) -> Result<bool, ApiError> {
        if let Some(value) = self.any_keys_recently() {
            return Ok(value);
        }
        let keys = self.store.keys().map_err(|err| ApiError::from_store(&err))?;
        let value = keys.iter().any(|k| k.revoked_at.is_none());
        *self.any.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), value));
        Ok(value)
    }

    /// [`Keys::authorize`] where it needs nothing from the store: a request that sends no key
    /// to a gateway that needs none (as read within the last [`ANY_KEYS_TTL`]) goes through.
    /// `None` when the store must be asked: a key sent is always looked up, so that it is
    /// charged from its first request.
    pub fn authorize_now(
        &self,
        headers: &HeaderMap,
    ) -> Option<Result<Option<KeyRecord>, ApiError>> {
        if secret(headers).is_some() || self.any_keys_recently()? {
            return None;
        }
        Some(Ok(None))
    }

    /// The key a request carries, checked: `None` when the gateway is open and none was sent.
    /// A `spending` request (one that calls models) must also be within the key's budget and
    /// rate limit.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        spending: bool,
    ) -> Result<Option<KeyRecord>, ApiError> {
        let Some(secret) = secret(headers) else {
            if self.any_keys()? {
                return Err(unauthorized(
                    "no API key: send one as `Authorization: Bearer KEY` or `x-api-key: KEY` (`aimos keys create` makes one)",
                ));
            }
            return Ok(None);
        };
        let hash = hash_secret(secret);
        let key = self.store.key_by_hash(&hash).map_err(|err| ApiError::from_store(&err))?;
        // The store finds the row by its hash; the hash is then compared again, in constant
        // time, so that how a backend compares text never matters.
        let key = key.filter(|key| same_secret(key.hash.as_bytes(), hash.as_bytes()));
        let Some(key) = key else {
            if !self.any_keys()? {
                // An open gateway ignores whatever key a client sends anyway (SDKs insist on one).
                return Ok(None);
            }
            return Err(unauthorized("the API key is not valid"));
        };
        if key.revoked_at.is_some() {
            return Err(unauthorized("the API key was revoked"));
        }
        if !spending {
            return Ok(Some(key));
        }
        if let Some(budget) = key.budget_usd
            && key.spent_usd >= budget
        {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                format!(
                    "the key `{}` has spent its budget (${:.4} of ${budget:.4}); raise it or use another key",
                    key.name, key.spent_usd
                ),
            )
            .code("insufficient_quota")
            .no_retry());
        }
        if let Some(rpm) = key.rpm {
            self.take_rate(&key, rpm)?;
        }
        Ok(Some(key))
    }

    /// Counts the request against the key's limit in the store, so that every replica sharing
    /// it enforces one limit (not one each).
    fn take_rate(&self, key: &KeyRecord, rpm: u32) -> Result<(), ApiError> {
        let wait = self.store.take_rate(&key.id, rpm).map_err(|err| ApiError::from_store(&err))?;
        if let Some(wait) = wait {
            let mut err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("the key `{}` is limited to {rpm} requests a minute", key.name),
            )
            .code("rate_limit_exceeded");
            err.retry_after = Some(wait);
            return Err(err);
        }
        Ok(())
    }

    /// Charges `usd` to `key` (after its request ended).
    pub fn charge(&self, key: &KeyRecord, usd: f64) {
        if usd <= 0.0 {
            return;
        }
        if let Err(err) = self.store.add_key_spend(&key.id, usd) {
            tracing::error!(key = %key.name, error = %err, usd, "could not charge the key");
        }
    }
}

/// [`Keys::authorize`], on the blocking pool where it may read the store.
pub(crate) async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    spending: bool,
) -> Result<Option<KeyRecord>, ApiError> {
    if let Some(answer) = state.keys.authorize_now(headers) {
        return answer;
    }
    let (state, headers) = (Arc::clone(state), headers.clone());
    blocking(move || state.keys.authorize(&headers, spending)).await
}

/// [`Keys::charge`] on the blocking pool: it writes to the store.
pub(crate) async fn charge(state: &AppState, key: &KeyRecord, usd: f64) {
    if usd <= 0.0 {
        return;
    }
    let (state, key) = (Arc::clone(state), key.clone());
    let _ = blocking(move || {
        state.keys.charge(&key, usd);
        Ok(())
    })
    .await;
}

/// The key a request sends: OpenAI's SDKs send `Authorization: Bearer KEY`, Anthropic's
/// `x-api-key: KEY`.
fn secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
        .code("invalid_api_key")
        .no_retry()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        let hash = hash_secret("aimos-abc");
        assert!(same_secret(hash.as_bytes(), hash_secret("aimos-abc").as_bytes()));
        assert!(!same_secret(hash.as_bytes(), hash_secret("aimos-abd").as_bytes()));
        assert!(!same_secret(hash.as_bytes(), &hash.as_bytes()[..63]));
        assert!(!same_secret(hash.to_uppercase().as_bytes(), hash.as_bytes()));
        assert!(same_secret(b"", b""));
    }

    fn headers(secret: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(secret) = secret {
            headers.insert("authorization", format!("Bearer {secret}").parse().expect("header"));
        }
        headers
    }

    /// A request without a key, to a gateway whose store said (within the last 2 s) that it
    /// needs none, goes through from memory; a request with a key is always looked up, so a
    /// key made a moment ago is charged from its first request.
    #[test]
    fn only_keyless_requests_to_an_open_gateway_are_answered_from_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(aimos_store::SqliteStore::open(&dir.path().join("a.db")).expect("opens"));
        let keys = Keys::new(Arc::clone(&store));
        assert!(keys.authorize_now(&headers(None)).is_none(), "nothing read yet");
        assert!(keys.authorize(&headers(None), true).expect("open").is_none());
        assert!(matches!(keys.authorize_now(&headers(None)), Some(Ok(None))));
        let (_, secret) = create(&*store, "new", None, None).expect("creates");
        assert!(keys.authorize_now(&headers(Some(&secret))).is_none());
        let key = keys.authorize(&headers(Some(&secret)), true).expect("valid");
        assert_eq!(key.map(|k| k.name).as_deref(), Some("new"));

        let keys = Keys::new(Arc::clone(&store));
        assert!(keys.authorize(&headers(None), true).is_err(), "a key is needed now");
        assert!(keys.authorize_now(&headers(None)).is_none(), "the store refuses it");
    }
}
