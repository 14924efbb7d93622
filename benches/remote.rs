//! Remote tier benchmark against a loopback nginx (WebDAV PUT), in one run:
//! - GET hit and miss p50/p99 for 4 KiB, 1 MiB, 16 MiB, next to a bare ureq GET of the same
//!   URL (transport only: the envelope check is what pcstore adds);
//! - the time `try_put` takes as seen by the caller while the server is slow (50 ms per answer);
//! - upload worker throughput next to `curl` doing the same PUTs in one process.
//!
//! Run: `cargo bench --bench remote --features remote` (needs nginx and curl:
//! scripts/install-deps.sh). About a minute.

#[path = "../tests/support/test_server.rs"]
mod test_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pcstore::remote::{RemoteCache, RemoteOptions};
use pcstore::{PipelineCacheStore, PipelineFingerprint};
use test_server::{ServerKind, TestServer};

fn fp(tag: &str, n: usize) -> PipelineFingerprint {
    PipelineFingerprint::builder()
        .with(tag.as_bytes())
        .with(&n.to_le_bytes())
        .finish()
}

fn blob(n: usize, len: usize) -> Vec<u8> {
    let mut state = n as u64 | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// (p50, p99) of the samples.
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

fn show(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

fn label(len: usize) -> String {
    if len >= 1 << 20 {
        format!("{} MiB", len >> 20)
    } else {
        format!("{} KiB", len >> 10)
    }
}

fn bench_gets(nginx: &TestServer) {
    println!("## GET (loopback nginx)");
    println!("| size | pcstore hit p50 / p99 | bare ureq GET p50 / p99 | ratio p50 | pcstore miss p50 / p99 |");
    println!("|---|---|---|---|---|");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for (len, rounds) in [(4usize << 10, 2000usize), (1 << 20, 200), (16 << 20, 30)] {
        let writer = RemoteCache::new(&nginx.url("cache")).unwrap();
        let keys: Vec<PipelineFingerprint> = (0..8).map(|n| fp(&label(len), n)).collect();
        for (n, key) in keys.iter().enumerate() {
            writer.try_put(*key, blob(n, len)).unwrap();
        }
        writer.flush().unwrap();

        let reader = RemoteCache::with_options(
            &nginx.url("cache"),
            RemoteOptions {
                miss_ttl: Duration::ZERO,
                ..RemoteOptions::default()
            },
        )
        .unwrap();
        let mut hits = Vec::with_capacity(rounds);
        let mut bare = Vec::with_capacity(rounds);
        let mut misses = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let key = &keys[round % keys.len()];
            let started = Instant::now();
            let got = reader.get(key).expect("hit");
            hits.push(started.elapsed());
            assert_eq!(got.len(), len);

            let url = format!("{}/ac/{}", nginx.url("cache"), key.to_hex());
            let started = Instant::now();
            let mut response = agent.get(&url).call().unwrap();
            let body = response
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .read_to_vec()
                .unwrap();
            bare.push(started.elapsed());
            assert!(body.len() > len);

            let started = Instant::now();
            assert!(reader.get(&fp("missing", round)).is_none());
            misses.push(started.elapsed());
        }
        assert_eq!(reader.metrics().corrupt_dropped, 0);
        let (hit50, hit99) = percentiles(&mut hits);
        let (bare50, bare99) = percentiles(&mut bare);
        let (miss50, miss99) = percentiles(&mut misses);
        println!(
            "| {} | {} / {} | {} / {} | {:.2}× | {} / {} |",
            label(len),
            show(hit50),
            show(hit99),
            show(bare50),
            show(bare99),
            hit50.as_secs_f64() / bare50.as_secs_f64(),
            show(miss50),
            show(miss99)
        );
    }

    // A miss remembered from the previous lookup skips the network.
    let reader = RemoteCache::new(&nginx.url("cache")).unwrap();
    let key = fp("remembered", 0);
    assert!(reader.get(&key).is_none());
    let mut remembered: Vec<Duration> = (0..10_000)
        .map(|_| {
            let started = Instant::now();
            assert!(reader.get(&key).is_none());
            started.elapsed()
        })
        .collect();
    let (p50, p99) = percentiles(&mut remembered);
    println!(
        "\nremembered miss (no request): p50 {} / p99 {}",
        show(p50),
        show(p99)
    );
}

/// A server that reads each request and answers 201 after `delay`.
fn slow_server(delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(stream) = stream else { return };
            thread::spawn(move || answer_slowly(stream, delay));
        }
    });
    port
}

fn answer_slowly(stream: TcpStream, delay: Duration) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for _ in 0..100_000 {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        thread::sleep(delay);
        if writer
            .write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn bench_put_latency() {
    println!("\n## try_put as seen by the caller, server answering each PUT after 50 ms");
    let port = slow_server(Duration::from_millis(50));
    let count = 20_000;
    let cache = RemoteCache::with_options(
        &format!("http://127.0.0.1:{port}"),
        RemoteOptions {
            upload_queue_len: count,
            upload_queue_bytes: u64::MAX,
            ..RemoteOptions::default()
        },
    )
    .unwrap();
    let blobs: Vec<Arc<Vec<u8>>> = (0..count).map(|n| Arc::new(blob(n, 4096))).collect();
    let mut samples = Vec::with_capacity(count);
    for (n, payload) in blobs.into_iter().enumerate() {
        let key = fp("put", n);
        let started = Instant::now();
        cache.try_put_arc(key, payload).unwrap();
        samples.push(started.elapsed());
    }
    let (p50, p99) = percentiles(&mut samples);
    let max = samples.last().copied().unwrap_or_default();
    println!(
        "4 KiB try_put, {count} puts: p50 {} / p99 {} / max {} (uploaded meanwhile: {})",
        show(p50),
        show(p99),
        show(max),
        cache.remote_metrics().uploads
    );
    // Dropping the cache abandons the queued uploads; the slow server's threads die with the
    // process.
}

fn bench_upload_throughput(nginx: &TestServer) {
    println!("\n## Upload throughput: pcstore worker vs one curl process (same PUTs, same server)");
    println!("| blobs | pcstore worker | curl | pcstore / curl time |");
    println!("|---|---|---|---|");
    let work = std::env::temp_dir().join(format!("pcstore-bench-curl-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    for (len, count) in [(4usize << 10, 500usize), (1 << 20, 100)] {
        // pcstore: from the first put to flush returning.
        let cache = RemoteCache::with_options(
            &nginx.url("cache"),
            RemoteOptions {
                upload_queue_len: count,
                upload_queue_bytes: u64::MAX,
                ..RemoteOptions::default()
            },
        )
        .unwrap();
        let blobs: Vec<Vec<u8>> = (0..count).map(|n| blob(n, len)).collect();
        let started = Instant::now();
        for (n, payload) in blobs.iter().enumerate() {
            cache
                .try_put(fp(&format!("tp{len}"), n), payload.clone())
                .unwrap();
        }
        cache.flush().unwrap();
        let ours = started.elapsed();

        // curl: the same bodies (as envelopes would be: payload plus 88 bytes), one process,
        // one reused connection, sequential like our single worker.
        let mut config = String::new();
        for (n, payload) in blobs.iter().enumerate() {
            let file = work.join(format!("{n}"));
            let mut body = vec![0u8; pcstore::remote::ENVELOPE_OVERHEAD];
            body.extend_from_slice(payload);
            std::fs::write(&file, body).unwrap();
            config.push_str(&format!(
                "url = \"{}/ac/curl{len}-{n:06}\"\nupload-file = \"{}\"\noutput = \"/dev/null\"\n",
                nginx.url("cache"),
                file.display()
            ));
        }
        let config_path = work.join("curl.conf");
        std::fs::write(&config_path, config).unwrap();
        let started = Instant::now();
        let status = Command::new("curl")
            .args(["-sS", "--fail", "-K"])
            .arg(&config_path)
            .status()
            .expect("curl (scripts/install-deps.sh installs it)");
        let curl = started.elapsed();
        assert!(status.success());
        let mib = (len * count) as f64 / (1 << 20) as f64;
        println!(
            "| {count} × {} | {} ({:.0} MiB/s, {:.0} PUT/s) | {} ({:.0} MiB/s) | {:.2}× |",
            label(len),
            show(ours),
            mib / ours.as_secs_f64(),
            count as f64 / ours.as_secs_f64(),
            show(curl),
            mib / curl.as_secs_f64(),
            ours.as_secs_f64() / curl.as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

fn main() {
    let nginx = TestServer::start(ServerKind::Nginx);
    bench_gets(&nginx);
    bench_put_latency();
    bench_upload_throughput(&nginx);
}
