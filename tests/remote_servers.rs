//! The remote tier against real servers, two implementations of the protocol: nginx with WebDAV
//! `PUT` (scripts/nginx-test-server.sh) and Apache httpd with mod_dav
//! (scripts/apache-test-server.sh), each started per test on loopback. Every test runs on both
//! (`nginx::NAME`, `apache::NAME`). They FAIL (never skip) when a server is not installed;
//! scripts/install-deps.sh installs both.
#![cfg(feature = "remote")]

#[path = "support/test_server.rs"]
mod test_server;

use std::sync::Arc;

use pcstore::remote::{RemoteAuth, RemoteCache, RemoteOptions, RequestFailure, ENVELOPE_OVERHEAD};
use pcstore::{
    DiskCache, InMemoryPipelineCache, LayeredPipelineCache, PipelineCacheStore,
    PipelineFingerprint, PutError,
};
use test_server::{ServerKind, TestServer, TEST_PASSWORD, TEST_TOKEN, TEST_USER};

/// Runs each named test function once per server implementation.
macro_rules! on_every_server {
    ($($test:ident),* $(,)?) => {
        mod nginx {
            $(#[test] fn $test() { super::$test(super::ServerKind::Nginx) })*
        }
        mod apache {
            $(#[test] fn $test() { super::$test(super::ServerKind::Apache) })*
        }
    };
}

on_every_server!(
    round_trips_blobs_from_one_byte_to_sixteen_mib,
    two_independent_caches_share_entries_through_the_server,
    layered_stack_promotes_remote_hits_into_every_faster_layer,
    read_only_mode_never_puts,
    bearer_token_is_required_and_accepted,
    basic_auth_from_options_or_url_is_required_and_accepted,
    concurrent_readers_and_writers_agree,
);

fn fp(n: u32) -> PipelineFingerprint {
    PipelineFingerprint::of(&n.to_le_bytes())
}

fn blob(n: u32, len: usize) -> Vec<u8> {
    let mut state = u64::from(n) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn round_trips_blobs_from_one_byte_to_sixteen_mib(kind: ServerKind) {
    let server = TestServer::start(kind);
    let writer = RemoteCache::new(&server.url("cache")).unwrap();
    let sizes = [1usize, 4 << 10, 1 << 20, 16 << 20];
    for (n, len) in sizes.iter().enumerate() {
        writer.try_put(fp(n as u32), blob(n as u32, *len)).unwrap();
    }
    writer.flush().unwrap();
    let mut stored = server.stored("cache");
    stored.sort_unstable();
    let expected: Vec<u64> = sizes
        .iter()
        .map(|len| (len + ENVELOPE_OVERHEAD) as u64)
        .collect();
    assert_eq!(stored, expected, "one envelope per blob on the server");
    assert_eq!(writer.remote_metrics().uploads, 4);

    let reader = RemoteCache::new(&server.url("cache")).unwrap();
    for (n, len) in sizes.iter().enumerate() {
        let got = reader.get(&fp(n as u32)).expect("a hit");
        assert!(
            got == blob(n as u32, *len),
            "blob {n} of {len} bytes differs"
        );
    }
    assert_eq!(reader.get(&fp(1000)), None);
    let metrics = reader.metrics();
    assert_eq!((metrics.hits, metrics.misses), (4, 1));
    assert_eq!(metrics.corrupt_dropped, 0);
    assert_eq!(
        metrics.bytes_read,
        sizes.iter().map(|len| *len as u64).sum::<u64>()
    );
}

fn two_independent_caches_share_entries_through_the_server(kind: ServerKind) {
    let server = TestServer::start(kind);
    let a = RemoteCache::new(&server.url("cache")).unwrap();
    let b = RemoteCache::new(&server.url("cache")).unwrap();
    a.try_put(fp(1), blob(1, 5000)).unwrap();
    b.try_put(fp(2), blob(2, 7000)).unwrap();
    a.flush().unwrap();
    b.flush().unwrap();
    assert_eq!(b.get(&fp(1)), Some(blob(1, 5000)));
    assert_eq!(a.get(&fp(2)), Some(blob(2, 7000)));
    assert_eq!(
        b.contains(&fp(1)),
        Ok(true),
        "HEAD sees the other cache's entry"
    );
    assert_eq!(b.contains(&fp(3)), Ok(false));
    // Same key written twice (two build machines compiling the same pipeline): both succeed.
    b.try_put(fp(1), blob(1, 5000)).unwrap();
    b.flush().unwrap();
    assert_eq!(server.stored("cache").len(), 2);
}

/// memory → local → remote. `local` is a second memory tier standing in for the disk tier
/// until that lands: the point is that a remote hit is promoted into every faster layer, so the
/// next process start (new memory, same local) is served without the network.
fn layered_stack_promotes_remote_hits_into_every_faster_layer(kind: ServerKind) {
    let server = TestServer::start(kind);
    let farm = RemoteCache::new(&server.url("cache")).unwrap();
    farm.try_put(fp(7), blob(7, 64 << 10)).unwrap();
    farm.flush().unwrap();

    // memory -> disk -> remote, as a game ships it.
    let disk_dir = std::env::temp_dir().join(format!(
        "pcstore-remote-layered-{kind:?}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&disk_dir);
    let local = Arc::new(DiskCache::new(&disk_dir).unwrap());
    let remote = Arc::new(RemoteCache::new(&server.url("cache")).unwrap());
    let stack = |memory: &Arc<InMemoryPipelineCache>| {
        LayeredPipelineCache::new(vec![
            memory.clone() as Arc<dyn PipelineCacheStore>,
            local.clone() as Arc<dyn PipelineCacheStore>,
            remote.clone() as Arc<dyn PipelineCacheStore>,
        ])
    };
    let memory = Arc::new(InMemoryPipelineCache::new());
    let layered = stack(&memory);
    assert_eq!(layered.get(&fp(7)), Some(blob(7, 64 << 10)));
    assert_eq!(
        memory.get(&fp(7)),
        Some(blob(7, 64 << 10)),
        "promoted into memory"
    );
    assert_eq!(
        local.get(&fp(7)),
        Some(blob(7, 64 << 10)),
        "promoted into the disk tier"
    );
    for _ in 0..5 {
        assert_eq!(layered.get(&fp(7)), Some(blob(7, 64 << 10)));
    }
    assert_eq!(
        remote.metrics().lookups,
        1,
        "later hits never reach the network"
    );
    let report = layered.promotion_report();
    assert_eq!(report.hits_by_layer, vec![5, 0, 1]);
    assert_eq!(report.promoted_into[..2], [1, 1]);

    // The next start: empty memory, the disk tier reopened from its directory; no network.
    local.flush().unwrap();
    let reopened = DiskCache::new(&disk_dir).unwrap();
    assert_eq!(
        reopened.get(&fp(7)),
        Some(blob(7, 64 << 10)),
        "the promoted blob persisted on disk"
    );
    let restarted = stack(&Arc::new(InMemoryPipelineCache::new()));
    assert_eq!(restarted.get(&fp(7)), Some(blob(7, 64 << 10)));
    assert_eq!(restarted.promotion_report().hits_by_layer, vec![0, 1, 0]);
    assert_eq!(remote.metrics().lookups, 1);

    // A put through the stack reaches the server.
    layered.try_put(fp(8), blob(8, 100)).unwrap();
    layered.flush().unwrap();
    let other = RemoteCache::new(&server.url("cache")).unwrap();
    assert_eq!(other.get(&fp(8)), Some(blob(8, 100)));
    drop((layered, restarted, local, reopened));
    let _ = std::fs::remove_dir_all(&disk_dir);
}

fn read_only_mode_never_puts(kind: ServerKind) {
    let server = TestServer::start(kind);
    let read_only = RemoteCache::with_options(
        &server.url("cache"),
        RemoteOptions {
            read_only: true,
            ..RemoteOptions::default()
        },
    )
    .unwrap();
    for n in 0..5 {
        assert!(matches!(
            read_only.try_put(fp(n), blob(n, 100)),
            Err(PutError::ReadOnly)
        ));
        read_only.put(fp(n), blob(n, 100));
    }
    read_only.flush().unwrap();
    assert!(
        server.stored("cache").is_empty(),
        "nothing reached the server"
    );
    assert_eq!(read_only.metrics().rejected_puts, 10);
    assert_eq!(read_only.remote_metrics().uploads, 0);

    // It still reads what a writer pushed.
    let writer = RemoteCache::new(&server.url("cache")).unwrap();
    writer.try_put(fp(1), blob(1, 100)).unwrap();
    writer.flush().unwrap();
    assert_eq!(read_only.get(&fp(1)), Some(blob(1, 100)));
}

fn bearer_token_is_required_and_accepted(kind: ServerKind) {
    let server = TestServer::start(kind);
    let with = |token: &str| RemoteOptions {
        auth: Some(RemoteAuth::Bearer(token.into())),
        ..RemoteOptions::default()
    };
    let good = RemoteCache::with_options(&server.url("bearer"), with(TEST_TOKEN)).unwrap();
    good.try_put(fp(1), blob(1, 4096)).unwrap();
    good.flush().unwrap();
    assert_eq!(good.get(&fp(1)), Some(blob(1, 4096)));

    for bad in [
        RemoteCache::with_options(&server.url("bearer"), with("wrong-token")).unwrap(),
        RemoteCache::new(&server.url("bearer")).unwrap(),
    ] {
        assert_eq!(bad.get(&fp(1)), None);
        bad.try_put(fp(2), blob(2, 10)).unwrap();
        let report = bad.flush_within(std::time::Duration::from_secs(10));
        assert_eq!(report.failures, vec![(fp(2), RequestFailure::Rejected)]);
        assert_eq!(bad.remote_metrics().rejected, 2);
        assert_eq!(bad.remote_metrics().breaker_openings, 0);
    }
    assert_eq!(server.stored("bearer").len(), 1);
}

fn basic_auth_from_options_or_url_is_required_and_accepted(kind: ServerKind) {
    let server = TestServer::start(kind);
    let good = RemoteCache::with_options(
        &server.url("basic"),
        RemoteOptions {
            auth: Some(RemoteAuth::Basic {
                user: TEST_USER.into(),
                password: TEST_PASSWORD.into(),
            }),
            ..RemoteOptions::default()
        },
    )
    .unwrap();
    good.try_put(fp(1), blob(1, 4096)).unwrap();
    good.flush().unwrap();

    let in_url = format!(
        "http://{TEST_USER}:{TEST_PASSWORD}@127.0.0.1:{}/basic",
        server.port()
    );
    let from_url = RemoteCache::new(&in_url).unwrap();
    assert_eq!(from_url.get(&fp(1)), Some(blob(1, 4096)));

    let wrong = format!("http://{TEST_USER}:nope@127.0.0.1:{}/basic", server.port());
    let wrong = RemoteCache::new(&wrong).unwrap();
    assert_eq!(wrong.get(&fp(1)), None);
    wrong.try_put(fp(2), blob(2, 10)).unwrap();
    assert!(wrong.flush().is_err());
    assert_eq!(wrong.remote_metrics().rejected, 2);
    assert_eq!(server.stored("basic").len(), 1);
}

fn concurrent_readers_and_writers_agree(kind: ServerKind) {
    let server = TestServer::start(kind);
    // Room for every put: this test is about concurrency, not about the queue's bound.
    let writer = Arc::new(
        RemoteCache::with_options(
            &server.url("cache"),
            RemoteOptions {
                upload_queue_len: 1024,
                ..RemoteOptions::default()
            },
        )
        .unwrap(),
    );
    let reader = Arc::new(
        RemoteCache::with_options(
            &server.url("cache"),
            RemoteOptions {
                miss_ttl: std::time::Duration::ZERO,
                ..RemoteOptions::default()
            },
        )
        .unwrap(),
    );
    for n in 0..64 {
        writer
            .try_put(fp(n), blob(n, 1000 + n as usize * 100))
            .unwrap();
    }
    writer.flush().unwrap();
    std::thread::scope(|scope| {
        for thread in 0..4u32 {
            let (reader, writer) = (&reader, &writer);
            scope.spawn(move || {
                for round in 0..100u32 {
                    let n = (round * 7 + thread * 13) % 64;
                    assert_eq!(reader.get(&fp(n)), Some(blob(n, 1000 + n as usize * 100)));
                    let fresh = 1000 + thread * 1000 + round;
                    writer.try_put(fp(fresh), blob(fresh, 512)).unwrap();
                }
            });
        }
    });
    writer.flush().unwrap();
    assert_eq!(reader.metrics().hits, 400);
    assert_eq!(reader.metrics().corrupt_dropped, 0);
    assert_eq!(writer.remote_metrics().uploads, 64 + 400);
    assert_eq!(server.stored("cache").len(), 64 + 400);
}
