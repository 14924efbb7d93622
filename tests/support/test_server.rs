//! Throw-away HTTP cache servers on 127.0.0.1 for the remote tier's tests and benchmark: nginx
//! with WebDAV `PUT` (scripts/nginx-test-server.sh) or Apache httpd with mod_dav
//! (scripts/apache-test-server.sh), each with its own folder and port, stopped and deleted on
//! drop. Both scripts serve the same locations: `/cache/` (open), `/bearer/` ([`TEST_TOKEN`])
//! and `/basic/` ([`TEST_USER`], [`TEST_PASSWORD`]).
//!
//! Shared by tests/remote_servers.rs, tests/remote_env.rs and benches/remote.rs through `#[path]`.
#![allow(dead_code)] // each includer uses a different part

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The bearer token the scripts require on `/bearer/`.
pub const TEST_TOKEN: &str = "pcstore-test-token";
/// The Basic credentials the scripts require on `/basic/`.
pub const TEST_USER: &str = "pcstore";
/// See [`TEST_USER`].
pub const TEST_PASSWORD: &str = "pcstore-test-password";

/// Which server implementation to start.
#[derive(Clone, Copy, Debug)]
pub enum ServerKind {
    Nginx,
    Apache,
}

impl ServerKind {
    fn script(self) -> PathBuf {
        let name = match self {
            ServerKind::Nginx => "scripts/nginx-test-server.sh",
            ServerKind::Apache => "scripts/apache-test-server.sh",
        };
        Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
    }

    fn stop(self, dir: &Path) {
        let _ = Command::new("bash")
            .arg(self.script())
            .arg("stop")
            .arg(dir)
            .status();
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A private server on 127.0.0.1, stopped and deleted on drop.
pub struct TestServer {
    kind: ServerKind,
    dir: PathBuf,
    port: u16,
}

impl TestServer {
    /// Starts a server; panics (the test fails, never skips) when it does not start, naming
    /// how to install it.
    pub fn start(kind: ServerKind) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let mut last_error = String::new();
        // A freed port can be taken by someone else before the server binds it: try a few.
        for _ in 0..3 {
            let dir = std::env::temp_dir().join(format!(
                "pcstore-{kind:?}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let port = TcpListener::bind("127.0.0.1:0")
                .expect("bind a loopback port")
                .local_addr()
                .expect("its address")
                .port();
            let output = Command::new("bash")
                .arg(kind.script())
                .arg("start")
                .arg(&dir)
                .arg(port.to_string())
                .output()
                .expect("running bash");
            if output.status.success() {
                return Self { kind, dir, port };
            }
            last_error = String::from_utf8_lossy(&output.stderr).into_owned();
            kind.stop(&dir);
        }
        panic!(
            "the {kind:?} test server did not start (install it with scripts/install-deps.sh):\n{last_error}"
        );
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Base URL of one of the locations: "cache", "bearer" or "basic".
    pub fn url(&self, location: &str) -> String {
        format!("http://127.0.0.1:{}/{location}", self.port)
    }

    /// Sizes of the entries stored under a location.
    pub fn stored(&self, location: &str) -> Vec<u64> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("data").join(location).join("ac")) else {
            return Vec::new();
        };
        entries
            .map(|entry| entry.unwrap().metadata().unwrap().len())
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kind.stop(&self.dir);
    }
}
