//! Shard store behaviour on real directories: round trips, bitrot, interrupted writes,
//! full disks, listing and deletion.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use liuma_codec::{BlockId, CodecParams, EncodedBlock, decode_block_report, encode_block};
use liuma_disk::{DiskConfig, Error, Fault, ShardStore, layout};
use rand::{RngCore, SeedableRng, rngs::StdRng};

fn open(root: &Path, n: usize) -> ShardStore {
    ShardStore::open(&configs(root, n)).unwrap()
}

fn configs(root: &Path, n: usize) -> Vec<DiskConfig> {
    (0..n)
        .map(|i| DiskConfig::new(root.join(format!("disk{i}"))))
        .collect()
}

fn block(seed: u64, len: usize, k: u16, m: u16) -> EncodedBlock {
    let mut data = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    let params = CodecParams {
        data_shards: k,
        parity_shards: m,
        replicate_below: 0,
        ..CodecParams::default()
    };
    encode_block(&params, Bytes::from(data)).unwrap()
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn flip_byte(path: &Path, at: usize) {
    let mut v = std::fs::read(path).unwrap();
    v[at] ^= 0x01;
    std::fs::write(path, v).unwrap();
}

#[test]
fn round_trip_across_disks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 3);
    assert_eq!(store.disk_count(), 3);
    let b = block(1, 100_000, 4, 2);
    for s in &b.shards {
        store
            .write_shard(usize::from(s.header.index) % 3, s)
            .unwrap();
    }
    let mut frames = Vec::new();
    for s in &b.shards {
        let disk = usize::from(s.header.index) % 3;
        let path = store.shard_path(disk, &b.id, s.header.index);
        assert!(path.starts_with(store.disk_path(disk).join("shards")));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(store.has_shard(disk, &b.id, s.header.index));
        assert!(!store.has_shard((disk + 1) % 3, &b.id, s.header.index));
        let read = store.read_shard(disk, &b.id, s.header.index).unwrap();
        assert_eq!(read.header, s.header);
        assert_eq!(read.payload, s.payload);
        let frame = store.read_shard_frame(disk, &b.id, s.header.index).unwrap();
        assert_eq!(frame.as_ref(), s.to_frame().as_slice());
        frames.push(Some(frame));
    }
    let (plain, bad) = decode_block_report(&frames).unwrap();
    assert_eq!(BlockId::of(&plain), b.id);
    assert!(bad.is_empty());
    assert_eq!(store.cleaned_temp_files(), 0);
}

#[test]
fn rewriting_a_shard_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1);
    let b = block(2, 5000, 2, 1);
    store.write_shard(0, &b.shards[0]).unwrap();
    store.write_shard(0, &b.shards[0]).unwrap();
    assert_eq!(store.list_shards(0).count(), 1);
    assert_eq!(files_under(&dir.path().join("disk0/shards")).len(), 1);
}

#[test]
fn disk_ids_are_persistent_and_unique() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<_> = {
        let store = open(dir.path(), 2);
        (0..2).map(|i| store.disk_id(i).clone()).collect()
    };
    assert_ne!(ids[0], ids[1]);
    assert_eq!(ids[0].0.len(), 36);
    let id_file = dir.path().join("disk0").join(layout::DISK_ID_FILE);
    let mode = std::fs::metadata(&id_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Reopened, in the other order: ids follow the disks, not the positions.
    let mut cfgs = configs(dir.path(), 2);
    cfgs.reverse();
    let store = ShardStore::open(&cfgs).unwrap();
    assert_eq!(store.disk_id(0), &ids[1]);
    assert_eq!(store.disk_id(1), &ids[0]);

    // A moved disk keeps its id.
    drop(store);
    std::fs::rename(dir.path().join("disk1"), dir.path().join("moved")).unwrap();
    let store = ShardStore::open(&[DiskConfig::new(dir.path().join("moved"))]).unwrap();
    assert_eq!(store.disk_id(0), &ids[1]);
    assert_eq!(store.disk_id(0).to_string(), ids[1].0);
}

#[test]
fn invalid_disks_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // Same disk twice.
    let d = DiskConfig::new(dir.path().join("d"));
    assert!(matches!(
        ShardStore::open(&[d.clone(), d]),
        Err(Error::InvalidDisk { .. })
    ));
    // A file, not a directory.
    let f = dir.path().join("file");
    std::fs::write(&f, b"x").unwrap();
    assert!(matches!(
        ShardStore::open(&[DiskConfig::new(&f)]),
        Err(Error::InvalidDisk { path }) if path == f
    ));
    // A malformed id file.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join(layout::DISK_ID_FILE), b"not an id\n").unwrap();
    assert!(matches!(
        ShardStore::open(&[DiskConfig::new(&bad)]),
        Err(Error::InvalidDisk { .. })
    ));
    // No disks at all is a valid (empty) store.
    assert_eq!(ShardStore::open(&[]).unwrap().disk_count(), 0);
}

#[test]
fn bitrot_is_detected_and_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1);
    let b = block(3, 20_000, 2, 1);
    for s in &b.shards {
        store.write_shard(0, s).unwrap();
    }
    // Payload byte, header byte, checksum byte.
    for (index, at) in [(0u16, 500usize), (1, 20), (2, 90)] {
        flip_byte(&store.shard_path(0, &b.id, index), at);
        match store.read_shard(0, &b.id, index) {
            Err(Error::Bitrot {
                disk: 0,
                block,
                index: i,
                ..
            }) => {
                assert_eq!((block, i), (b.id, index));
            }
            other => panic!("shard {index}: {other:?}"),
        }
        // The raw frame is handed out unverified, and decode treats it as missing.
        assert!(store.read_shard_frame(0, &b.id, index).is_ok());
    }
    let frames: Vec<_> = (0..3)
        .map(|i| store.read_shard_frame(0, &b.id, i).ok())
        .collect();
    assert!(
        decode_block_report(&frames).is_err(),
        "all three are corrupt"
    );

    // A valid frame under the wrong name is bitrot too.
    let b2 = block(4, 20_000, 2, 1);
    store.write_shard(0, &b2.shards[0]).unwrap();
    std::fs::copy(
        store.shard_path(0, &b2.id, 0),
        store.shard_path(0, &b2.id, 1),
    )
    .unwrap();
    assert!(matches!(
        store.read_shard(0, &b2.id, 1),
        Err(Error::Bitrot {
            source: liuma_codec::Error::WrongShard { .. },
            ..
        })
    ));

    // Truncated file.
    let p = store.shard_path(0, &b2.id, 0);
    let v = std::fs::read(&p).unwrap();
    std::fs::write(&p, &v[..v.len() - 1]).unwrap();
    assert!(matches!(
        store.read_shard(0, &b2.id, 0),
        Err(Error::Bitrot {
            source: liuma_codec::Error::Truncated { .. },
            ..
        })
    ));
}

#[test]
fn interrupted_write_is_ignored_then_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let b = block(5, 10_000, 2, 1);
    let tmp = {
        let store = open(dir.path(), 2);
        store.write_shard(1, &b.shards[0]).unwrap();
        // Simulate a write killed after creating its temp file.
        let path = store.shard_path(1, &b.id, 1);
        let tmp = path
            .parent()
            .unwrap()
            .join(layout::temp_file_name(&b.id, 1, 0xdead));
        std::fs::write(&tmp, &b.shards[1].to_frame()[..50]).unwrap();
        assert!(matches!(
            store.read_shard(1, &b.id, 1),
            Err(Error::NotFound {
                disk: 1,
                index: 1,
                ..
            })
        ));
        assert!(!store.has_shard(1, &b.id, 1));
        let listed: Vec<_> = store.list_shards(1).map(Result::unwrap).collect();
        assert_eq!(listed, vec![(b.id, 0)]);
        tmp
    };
    assert!(tmp.exists());
    let store = open(dir.path(), 2);
    assert_eq!(store.cleaned_temp_files(), 1);
    assert!(!tmp.exists());
    assert!(store.read_shard(1, &b.id, 0).is_ok());
}

#[test]
fn reserve_makes_the_disk_full_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfgs = configs(dir.path(), 2);
    cfgs[0].reserve_bytes = u64::MAX / 2;
    let store = ShardStore::open(&cfgs).unwrap();
    let b = block(6, 10_000, 2, 1);
    assert!(matches!(
        store.write_shard(0, &b.shards[0]),
        Err(Error::DiskFull { disk: 0 })
    ));
    assert!(files_under(&dir.path().join("disk0/shards")).is_empty());
    assert!(!store.has_shard(0, &b.id, 0));
    // The other disk is fine.
    store.write_shard(1, &b.shards[0]).unwrap();
    let u = store.usage(1).unwrap();
    assert!(u.total_bytes >= u.free_bytes && u.total_bytes > 0);
}

#[test]
fn injected_faults() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 2);
    let b = block(7, 10_000, 2, 1);
    store.write_shard(0, &b.shards[0]).unwrap();

    store.inject_fault(0, Some(Fault::Full));
    assert!(matches!(
        store.write_shard(0, &b.shards[1]),
        Err(Error::DiskFull { disk: 0 })
    ));
    assert!(
        store.read_shard(0, &b.id, 0).is_ok(),
        "a full disk still reads"
    );
    store.write_shard(1, &b.shards[1]).unwrap();

    store.inject_fault(0, Some(Fault::Gone));
    let gone = |r: Result<(), Error>| match r {
        Err(Error::Io { disk: 0, source }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("{other:?}"),
    };
    gone(store.write_shard(0, &b.shards[1]));
    gone(store.read_shard(0, &b.id, 0).map(drop));
    gone(store.read_shard_frame(0, &b.id, 0).map(drop));
    gone(store.delete_shard(0, &b.id, 0).map(drop));
    gone(store.usage(0).map(drop));
    gone(store.list_shards(0).next().unwrap().map(drop));
    assert!(!store.has_shard(0, &b.id, 0));

    store.inject_fault(0, None);
    store.write_shard(0, &b.shards[1]).unwrap();
    assert_eq!(store.list_shards(0).count(), 2);
    assert!(
        files_under(&dir.path().join("disk0/shards"))
            .iter()
            .all(|p| !p.file_name().unwrap().to_str().unwrap().starts_with(".tmp"))
    );
}

#[test]
fn list_finds_exactly_what_was_written_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 2);
    let mut expected = BTreeSet::new();
    for seed in 0..20 {
        let b = block(100 + seed, 3000 + seed as usize, 3, 2);
        for s in &b.shards {
            if (seed + u64::from(s.header.index)) % 2 == 0 {
                store.write_shard(0, s).unwrap();
                expected.insert((b.id, s.header.index));
            } else {
                store.write_shard(1, s).unwrap();
            }
        }
    }
    // Noise that must not be listed.
    let shards = dir.path().join("disk0/shards");
    std::fs::write(shards.join("README"), b"x").unwrap();
    std::fs::create_dir_all(shards.join("zz/zz")).unwrap();
    let (some_id, _) = *expected.iter().next().unwrap();
    let some_dir = store
        .shard_path(0, &some_id, 0)
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(some_dir.join("notes.txt"), b"x").unwrap();
    std::fs::write(
        some_dir.join(format!("{}.1", some_id.to_hex().to_uppercase())),
        b"x",
    )
    .unwrap();
    // A well-named shard file in the wrong fan-out directory is unreachable: not listed.
    let other = BlockId([0xff; 32]);
    std::fs::create_dir_all(shards.join("00/00")).unwrap();
    std::fs::write(
        shards
            .join("00/00")
            .join(layout::shard_file_name(&other, 0)),
        b"x",
    )
    .unwrap();

    let listed: BTreeSet<_> = store.list_shards(0).map(Result::unwrap).collect();
    assert_eq!(listed, expected);

    let (id, index) = *expected.iter().nth(3).unwrap();
    assert!(store.delete_shard(0, &id, index).unwrap());
    assert!(!store.delete_shard(0, &id, index).unwrap());
    assert!(matches!(
        store.read_shard(0, &id, index),
        Err(Error::NotFound { .. })
    ));
    expected.remove(&(id, index));
    let listed: BTreeSet<_> = store.list_shards(0).map(Result::unwrap).collect();
    assert_eq!(listed, expected);
}

#[test]
fn out_of_range_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1);
    let b = block(8, 1000, 1, 0);
    assert!(matches!(
        store.write_shard(1, &b.shards[0]),
        Err(Error::NoSuchDisk(1))
    ));
    assert!(matches!(
        store.read_shard(5, &b.id, 0),
        Err(Error::NoSuchDisk(5))
    ));
    assert!(matches!(
        store.delete_shard(5, &b.id, 0),
        Err(Error::NoSuchDisk(5))
    ));
    assert!(matches!(store.usage(5), Err(Error::NoSuchDisk(5))));
    assert!(matches!(
        store.list_shards(5).next(),
        Some(Err(Error::NoSuchDisk(5)))
    ));
    assert!(!store.has_shard(5, &b.id, 0));
}

#[test]
fn store_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ShardStore>();

    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path(), 1));
    let b = std::sync::Arc::new(block(9, 50_000, 4, 2));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (store, b) = (store.clone(), b.clone());
            std::thread::spawn(move || {
                // Everyone writes every shard: concurrent rewrites must stay atomic.
                for s in b.shards.iter().cycle().skip(t).take(12) {
                    store.write_shard(0, s).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for s in &b.shards {
        assert_eq!(
            store.read_shard(0, &b.id, s.header.index).unwrap().payload,
            s.payload
        );
    }
    assert_eq!(files_under(&dir.path().join("disk0/shards")).len(), 6);
}
