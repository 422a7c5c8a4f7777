//! Pull + verify + extract of a ~50 MB, 3-layer image from a real loopback `docker-registry`, cold
//! (empty cache) and cached (rootfs present: manifest/config re-read and re-verified from the cache).
//!
//! `cargo bench -p gigmcp-oci --bench pull` (needs `docker-registry` on PATH); set
//! `GIGMCP_OCI_BENCH_DIR=/dev/shm` to put the cache on tmpfs.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gigmcp_oci::pack::LayerCompression;
use gigmcp_oci::{
    ClientConfig, ImageSource, Progress, PullOptions, Puller, PushTarget, RegistryClient,
};

/// Deterministic pseudo-random bytes (xorshift64*), `text` makes them compressible like source files.
fn bytes(seed: u64, len: usize, text: bool) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        for b in v.to_le_bytes() {
            out.push(if text {
                b"abcdefghij klmnop\n(){};=+"[(b % 25) as usize]
            } else {
                b
            });
        }
    }
    out.truncate(len);
    out
}

fn build_image() -> gigmcp_oci::pack::BuiltImage {
    // Layer 1: 2000 text-like files of 10 KiB (20 MB) in 40 directories.
    let mut l1 = Vec::new();
    for d in 0..40 {
        l1.push(dir(&format!("usr/lib/pkg{d}/")));
        for f in 0..50 {
            l1.push(file(
                &format!("usr/lib/pkg{d}/mod{f}.py"),
                &bytes(d * 1000 + f, 10 << 10, true),
            ));
        }
    }
    // Layer 2: one 20 MB incompressible binary plus 2 MB of small libs.
    let mut l2 = vec![dir("opt/"), file("opt/server", &bytes(7, 20 << 20, false))];
    for i in 0..64 {
        l2.push(file(
            &format!("opt/lib{i}.so"),
            &bytes(100 + i, 32 << 10, false),
        ));
    }
    // Layer 3: 8 MB of app files and whiteouts removing part of layer 1.
    let mut l3 = vec![dir("app/")];
    for i in 0..800 {
        l3.push(file(
            &format!("app/f{i}.js"),
            &bytes(5000 + i, 10 << 10, true),
        ));
    }
    for d in 0..10 {
        l3.push(file(&format!("usr/lib/.wh.pkg{d}"), b""));
    }
    image(
        vec![tar_of(l1), tar_of(l2), tar_of(l3)],
        LayerCompression::Gzip,
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = Registry::start();
    let img = build_image();
    let size: usize = img.layers.iter().map(|(_, b)| b.len()).sum();
    eprintln!(
        "image {}: {} layers, {:.1} MB compressed",
        img.manifest_digest,
        img.layers.len(),
        size as f64 / 1e6
    );
    let target: PushTarget = format!("{}/bench/img:v1", reg.host).parse().unwrap();
    let client = RegistryClient::new(ClientConfig {
        insecure_hosts: vec![reg.host.clone()],
        ..Default::default()
    })
    .unwrap();
    rt.block_on(img.push(&client, &target, None)).unwrap();
    let src: ImageSource = format!("{}/bench/img@{}", reg.host, img.manifest_digest)
        .parse()
        .unwrap();
    // GIGMCP_OCI_BENCH_DIR picks the file system of the cache (default: the temp dir).
    let work = match std::env::var_os("GIGMCP_OCI_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let puller_at = |cache: &std::path::Path| {
        let mut o = PullOptions::new(cache);
        o.client.insecure_hosts.push(reg.host.clone());
        o.progress = Progress::Never;
        Puller::new(o).unwrap()
    };

    let mut g = c.benchmark_group("oci_pull_50mb_3_layers");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("cold_pull_verify_extract", |b| {
        b.iter_batched(
            || {
                // Removed when dropped, outside the timed section.
                let cache = tempfile::tempdir_in(work.path()).unwrap();
                (puller_at(cache.path()), cache)
            },
            |(p, cache)| {
                let r = rt.block_on(p.pull(&src)).unwrap();
                assert!(!r.cached);
                cache
            },
            BatchSize::PerIteration,
        )
    });
    // Blobs cached, rootfs removed before each iteration: extraction (+ re-hash, diff_id) alone.
    let blobs_only = puller_at(&work.path().join("blobs-only"));
    let rootfs = rt.block_on(blobs_only.pull(&src)).unwrap().rootfs;
    let trash = work.path().join("trash");
    std::fs::create_dir(&trash).unwrap();
    g.bench_function("extract_from_cached_blobs", |b| {
        b.iter_batched(
            || {
                let gone = tempfile::tempdir_in(&trash).unwrap();
                std::fs::rename(&rootfs, gone.path().join("r")).unwrap();
                gone
            },
            |gone| {
                let r = rt.block_on(blobs_only.pull(&src)).unwrap();
                assert!(!r.cached);
                gone
            },
            BatchSize::PerIteration,
        )
    });
    let warm = puller_at(&work.path().join("warm"));
    rt.block_on(warm.pull(&src)).unwrap();
    g.bench_function("cached_repull", |b| {
        b.iter(|| {
            let r = rt.block_on(warm.pull(&src)).unwrap();
            assert!(r.cached);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
