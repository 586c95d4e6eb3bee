//! The time to refuse a wrong secret must not tell an attacker how many of its leading
//! characters were right.
//!
//! Why it holds by construction: a presented secret is base64url-decoded and hashed with
//! SHA-384, and the 48-byte hash is compared with the stored one by `subtle`'s constant-time
//! equality. A right prefix of the secret gives no right prefix of the hash, and the
//! comparison reads every byte anyway.
//!
//! What is measured, two ways, with wrong secrets that share 0, 43 and 85 of their 86
//! characters with the right one (all valid base64url of 64 bytes, so every one takes the
//! same path through decode, hash and compare):
//!
//! * over HTTP against the real daemon, on one keep-alive connection, classes interleaved
//!   sample by sample, comparing medians with generous slack. Network and scheduling noise
//!   on a loaded 2-core machine is tens of microseconds, so this only catches a gross leak
//!   (a different code path for a better guess) — and is robust for it;
//! * in the library, `Binding::accepts` timed in batches, classes interleaved, medians
//!   compared within 15 %: fine enough to see a per-character early exit on the secret text,
//!   were there one, since it would have to show across 85 characters.
//!
//! This test binary holds nothing else, so no other test of the suite runs beside it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::time::{Duration, Instant};

use common::hostile::{Daemon, WEB};
use needroleshere::binding::{AccessToken, Mode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The right secret with the character at `at` replaced, still valid base64url of 64 bytes
/// (the last character of 86 carries 2 bits: only A, Q, g and w are canonical there).
fn wrong_at(secret: &str, at: usize) -> String {
    let mut chars: Vec<char> = secret.chars().collect();
    let choices: &[char] = if at == chars.len() - 1 {
        &['A', 'Q', 'g', 'w']
    } else {
        &['A', 'B', 'x', '-']
    };
    chars[at] = *choices.iter().find(|c| **c != chars[at]).unwrap();
    chars.into_iter().collect()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Sends one request on a keep-alive connection and reads the whole response.
async fn exchange(stream: &mut tokio::net::TcpStream, request: &[u8]) -> (u16, Duration) {
    let started = Instant::now();
    stream.write_all(request).await.unwrap();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the daemon closed the connection");
        buffer.extend_from_slice(&chunk[..n]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        if buffer.len() >= end + 4 + length {
            let status = head[9..12].parse().unwrap();
            return (status, started.elapsed());
        }
    }
}

/// The two measurements must not run beside each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn refusal_time_over_http_does_not_depend_on_the_right_prefix() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(measure_over_http());
}

async fn measure_over_http() {
    let daemon = Daemon::start(&[]).await;
    let token = daemon.token(WEB);
    let secret = token.strip_prefix("needroleshere.web.").unwrap();
    assert_eq!(secret.len(), 86);
    let classes: Vec<(usize, Vec<u8>)> = [0, 43, 85]
        .into_iter()
        .map(|at| {
            let request = format!(
                "GET /ecs/credentials HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer \
                 needroleshere.web.{}\r\n\r\n",
                daemon.ecs,
                wrong_at(secret, at)
            );
            (at, request.into_bytes())
        })
        .collect();
    let mut stream = tokio::net::TcpStream::connect(daemon.ecs).await.unwrap();
    stream.set_nodelay(true).unwrap();
    // Warm up (binding parsed and cached, code paths hot).
    for (_, request) in &classes {
        for _ in 0..20 {
            assert_eq!(exchange(&mut stream, request).await.0, 401);
        }
    }
    let rounds = 300;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); classes.len()];
    for round in 0..rounds {
        // Rotate the order so no class always goes first.
        for k in 0..classes.len() {
            let i = (round + k) % classes.len();
            let (status, elapsed) = exchange(&mut stream, &classes[i].1).await;
            assert_eq!(status, 401);
            samples[i].push(elapsed);
        }
    }
    assert_medians_close(&classes, &mut samples, |base| {
        (base * 3 / 10).max(Duration::from_micros(150))
    });
}

#[test]
fn secret_comparison_time_does_not_depend_on_the_right_prefix() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (binding, token) = common::samples::sample_binding(Mode::EcsFull);
    let text = token.to_secret_string();
    let secret = text.expose().strip_prefix("needroleshere.web.").unwrap();
    let classes: Vec<(usize, AccessToken)> = [0, 43, 85]
        .into_iter()
        .map(|at| {
            let wrong = format!("needroleshere.web.{}", wrong_at(secret, at));
            let token = AccessToken::parse(&wrong).unwrap();
            assert!(token.secret_hash().is_some(), "valid base64url");
            assert!(!binding.accepts(&token));
            (at, token)
        })
        .collect();
    assert!(binding.accepts(&token));
    const BATCH: u32 = 20;
    let rounds = 1500;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); classes.len()];
    for round in 0..rounds {
        for k in 0..classes.len() {
            let i = (round + k) % classes.len();
            let started = Instant::now();
            for _ in 0..BATCH {
                assert!(
                    !std::hint::black_box(&binding).accepts(std::hint::black_box(&classes[i].1))
                );
            }
            samples[i].push(started.elapsed() / BATCH);
        }
    }
    assert_medians_close(&classes, &mut samples, |base| {
        (base * 15 / 100).max(Duration::from_nanos(500))
    });
}

/// Every class's median time is within `slack(first class's median)` of the first class's.
fn assert_medians_close<T>(
    classes: &[(usize, T)],
    samples: &mut [Vec<Duration>],
    slack: impl Fn(Duration) -> Duration,
) {
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    let base = medians[0];
    let slack = slack(base);
    eprintln!("medians for 0, 43, 85 right leading characters: {medians:?} (slack {slack:?})");
    for (i, m) in medians.iter().enumerate() {
        let difference = m.abs_diff(base);
        assert!(
            difference <= slack,
            "{} right leading characters: median {m:?} vs {base:?}",
            classes[i].0
        );
    }
}
