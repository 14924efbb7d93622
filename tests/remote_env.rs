//! `RemoteCache::from_env` end to end against the nginx test server. Its own test binary with a
//! single test, because it sets process environment variables.
#![cfg(feature = "remote")]

#[path = "support/test_server.rs"]
mod test_server;

use pcstore::remote::{RemoteCache, ENV_KEY, ENV_READ_ONLY, ENV_TOKEN, ENV_URL};
use pcstore::{PipelineCacheStore, PipelineFingerprint, PutError};
use test_server::{ServerKind, TestServer, TEST_TOKEN};

fn set(name: &str, value: &str) {
    // Only this test runs in this binary, so no other thread reads the environment meanwhile.
    std::env::set_var(name, value);
}

#[test]
fn from_env_reads_url_token_secret_and_read_only() {
    let server = TestServer::start(ServerKind::Nginx);

    set(ENV_URL, "");
    assert!(
        RemoteCache::from_env().unwrap().is_none(),
        "unset URL: no tier"
    );

    set(ENV_URL, &server.url("bearer"));
    set(ENV_TOKEN, TEST_TOKEN);
    set(ENV_KEY, "studio secret");
    let writer = RemoteCache::from_env().unwrap().expect("a tier");
    assert!(writer.options().secret_key.is_some());
    let key = PipelineFingerprint::of(b"env");
    writer.try_put(key, b"blob".to_vec()).unwrap();
    writer.flush().unwrap();

    set(ENV_READ_ONLY, "1");
    let reader = RemoteCache::from_env().unwrap().expect("a tier");
    assert!(matches!(
        reader.try_put(key, b"x".to_vec()),
        Err(PutError::ReadOnly)
    ));
    assert_eq!(reader.get(&key), Some(b"blob".to_vec()));

    // Another secret does not accept the entry: keyed envelopes.
    set(ENV_KEY, "another secret");
    let other = RemoteCache::from_env().unwrap().expect("a tier");
    assert_eq!(other.get(&key), None);
    assert_eq!(other.metrics().corrupt_dropped, 1);

    // Without the token the server refuses.
    set(ENV_TOKEN, "");
    set(ENV_KEY, "studio secret");
    let anonymous = RemoteCache::from_env().unwrap().expect("a tier");
    assert_eq!(anonymous.get(&key), None);
    assert_eq!(anonymous.remote_metrics().rejected, 1);
}
