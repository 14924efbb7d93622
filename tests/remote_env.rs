//! `RemoteCache::from_env` end to end against the nginx test server. Its own test binary with a
//! single test, because it sets process environment variables.
#![cfg(feature = "remote")]

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use pcstore::remote::{RemoteCache, ENV_KEY, ENV_READ_ONLY, ENV_TOKEN, ENV_URL};
use pcstore::{PipelineCacheStore, PipelineFingerprint, PutError};

/// The token scripts/nginx-test-server.sh requires on its /bearer/ location.
const TEST_TOKEN: &str = "pcstore-test-token";

struct StopOnDrop(std::path::PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nginx-test-server.sh");
        let _ = Command::new("bash")
            .arg(script)
            .arg("stop")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn set(name: &str, value: &str) {
    // Only this test runs in this binary, so no other thread reads the environment meanwhile.
    std::env::set_var(name, value);
}

#[test]
fn from_env_reads_url_token_secret_and_read_only() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nginx-test-server.sh");
    let dir = std::env::temp_dir().join(format!("pcstore-nginx-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(&dir)
        .arg(port.to_string())
        .output()
        .expect("running bash");
    let _stop = StopOnDrop(dir);
    assert!(
        output.status.success(),
        "the nginx test server did not start (install nginx with scripts/install-deps.sh):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    set(ENV_URL, "");
    assert!(
        RemoteCache::from_env().unwrap().is_none(),
        "unset URL: no tier"
    );

    set(ENV_URL, &format!("http://127.0.0.1:{port}/bearer"));
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
