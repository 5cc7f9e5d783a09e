//! [`ShardStore`]: shard files on one or more local disks.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions, ReadDir};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use liuma_codec::{BlockId, Shard, parse_shard};

use crate::error::{Error, Result};
use crate::layout;

/// One disk (a directory, normally the mount point of a drive) given to the store.
#[derive(Clone, Debug)]
pub struct DiskConfig {
    /// Directory holding this disk's data; created if missing.
    pub path: PathBuf,
    /// Refuse writes that would leave less than this many bytes free. Default 0.
    pub reserve_bytes: u64,
}

impl DiskConfig {
    /// A disk at `path` with no reserve.
    pub fn new(path: impl Into<PathBuf>) -> DiskConfig {
        DiskConfig {
            path: path.into(),
            reserve_bytes: 0,
        }
    }
}

/// Stable identity of a disk, persisted in `<disk>/.liuma-disk`: a random UUID-like hex
/// string, so a disk keeps its identity when its mount path changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DiskId(pub String);

impl std::fmt::Display for DiskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Capacity of a disk's file system.
#[derive(Clone, Debug)]
pub struct DiskUsage {
    /// Size of the file system, in bytes.
    pub total_bytes: u64,
    /// Bytes available to this (unprivileged) process.
    pub free_bytes: u64,
}

/// A fault injected with [`ShardStore::inject_fault`] (tests and fault drills).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every write fails with [`Error::DiskFull`]; reads still work.
    Full,
    /// The disk is unplugged: every operation fails with [`Error::Io`]
    /// (kind `NotFound`), and [`ShardStore::has_shard`] says false.
    Gone,
}

const FAULT_NONE: u8 = 0;
const FAULT_FULL: u8 = 1;
const FAULT_GONE: u8 = 2;

struct Disk {
    path: PathBuf,
    id: DiskId,
    reserve_bytes: u64,
    fault: AtomicU8,
}

/// Shard files on local disks: crash-safe writes, verified reads.
///
/// All methods are synchronous and take `&self`; the store is `Send + Sync`, so share it
/// in an `Arc` and call it from `spawn_blocking`. Disks are addressed by their index in
/// the slice given to [`ShardStore::open`].
pub struct ShardStore {
    disks: Vec<Disk>,
    cleaned_temp_files: usize,
}

impl ShardStore {
    /// Opens (creating if needed) every disk: its directories and id file. Leftover temp
    /// files from interrupted writes are removed (see [`Self::cleaned_temp_files`]).
    ///
    /// Fails with [`Error::InvalidDisk`] if a path is not a directory, holds a malformed
    /// id file, or is the same disk as an earlier entry.
    pub fn open(disks: &[DiskConfig]) -> Result<ShardStore> {
        let mut opened = Vec::with_capacity(disks.len());
        let mut seen: HashMap<DiskId, usize> = HashMap::new();
        let mut cleaned = 0;
        for (i, cfg) in disks.iter().enumerate() {
            let io = |source| Error::Io { disk: i, source };
            if cfg.path.exists() && !cfg.path.is_dir() {
                return Err(Error::InvalidDisk {
                    path: cfg.path.clone(),
                });
            }
            fs::create_dir_all(layout::shards_root(&cfg.path)).map_err(io)?;
            let id = load_or_create_id(i, &cfg.path)?;
            if seen.insert(id.clone(), i).is_some() {
                return Err(Error::InvalidDisk {
                    path: cfg.path.clone(),
                });
            }
            let n = remove_temp_files(&cfg.path).map_err(io)?;
            if n > 0 {
                tracing::info!(disk = i, path = %cfg.path.display(), removed = n,
                    "removed temp files left by interrupted writes");
            }
            cleaned += n;
            opened.push(Disk {
                path: cfg.path.clone(),
                id,
                reserve_bytes: cfg.reserve_bytes,
                fault: AtomicU8::new(FAULT_NONE),
            });
        }
        Ok(ShardStore {
            disks: opened,
            cleaned_temp_files: cleaned,
        })
    }

    /// Number of temp files (interrupted writes) removed by [`Self::open`], all disks.
    pub fn cleaned_temp_files(&self) -> usize {
        self.cleaned_temp_files
    }

    /// Number of disks.
    pub fn disk_count(&self) -> usize {
        self.disks.len()
    }

    /// Persistent id of a disk.
    ///
    /// # Panics
    /// If `disk >= disk_count()`.
    pub fn disk_id(&self, disk: usize) -> &DiskId {
        &self.disks[disk].id
    }

    /// Configured path of a disk.
    ///
    /// # Panics
    /// If `disk >= disk_count()`.
    pub fn disk_path(&self, disk: usize) -> &Path {
        &self.disks[disk].path
    }

    /// Size and free space of the disk's file system (`statvfs`).
    pub fn usage(&self, disk: usize) -> Result<DiskUsage> {
        let d = self.disk(disk)?;
        d.check_gone(disk)?;
        let st = rustix::fs::statvfs(&d.path).map_err(|e| Error::Io {
            disk,
            source: e.into(),
        })?;
        Ok(DiskUsage {
            total_bytes: st.f_blocks.saturating_mul(st.f_frsize),
            free_bytes: st.f_bavail.saturating_mul(st.f_frsize),
        })
    }

    /// Writes a shard durably: temp file in the final directory, header and payload,
    /// fsync, rename over the final path, fsync the directory. Rewriting an existing shard
    /// replaces it atomically. A failed write leaves neither a partial final file nor a
    /// temp file.
    ///
    /// [`Error::DiskFull`] if free space is below the frame length plus the disk's
    /// reserve (checked before writing), or when the OS reports ENOSPC / EDQUOT.
    pub fn write_shard(&self, disk: usize, shard: &Shard) -> Result<()> {
        let d = self.disk(disk)?;
        match d.fault() {
            Some(Fault::Full) => return Err(Error::DiskFull { disk }),
            Some(Fault::Gone) => return Err(gone(disk)),
            None => {}
        }
        let needed = (shard.frame_len() as u64).saturating_add(d.reserve_bytes);
        if self.usage(disk)?.free_bytes < needed {
            return Err(Error::DiskFull { disk });
        }
        let id = &shard.header.block_id;
        let index = shard.header.index;
        let dir = layout::shard_dir(&d.path, id);
        let write = || -> io::Result<()> {
            ensure_dir(&dir)?;
            let mut tmp =
                TempFile::new(dir.join(layout::temp_file_name(id, index, rand::random())));
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp.path)?;
            f.write_all(&shard.header_bytes())?;
            f.write_all(&shard.payload)?;
            f.sync_data()?;
            drop(f);
            fs::rename(&tmp.path, dir.join(layout::shard_file_name(id, index)))?;
            tmp.armed = false;
            sync_dir(&dir)
        };
        write().map_err(|e| io_error(disk, e))
    }

    /// Reads and verifies a shard.
    ///
    /// [`Error::NotFound`] if absent; [`Error::Bitrot`] if the frame fails verification
    /// or its header names another block or index than its path: corrupt data is never
    /// returned.
    pub fn read_shard(&self, disk: usize, id: &BlockId, index: u16) -> Result<Shard> {
        let frame = self.read_shard_frame(disk, id, index)?;
        let bitrot = |source| Error::Bitrot {
            disk,
            block: *id,
            index,
            source,
        };
        let shard = parse_shard(frame).map_err(bitrot)?;
        if shard.header.block_id != *id || shard.header.index != index {
            return Err(bitrot(liuma_codec::Error::WrongShard {
                expected: *id,
                expected_index: index,
                found: shard.header.block_id,
                found_index: shard.header.index,
            }));
        }
        Ok(shard)
    }

    /// Reads a shard's raw frame without verifying it (for
    /// [`liuma_codec::decode_block`], which verifies every frame itself).
    pub fn read_shard_frame(&self, disk: usize, id: &BlockId, index: u16) -> Result<Bytes> {
        let d = self.disk(disk)?;
        d.check_gone(disk)?;
        match fs::read(layout::shard_path(&d.path, id, index)) {
            Ok(v) => Ok(Bytes::from(v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound {
                disk,
                block: *id,
                index,
            }),
            Err(e) => Err(io_error(disk, e)),
        }
    }

    /// [`Self::read_shard_frame`] into `buf` (cleared first): a caller that
    /// reuses its buffers (the engine's pool of block buffers) reads without
    /// allocating when `buf` has room for the frame.
    pub fn read_shard_frame_into(
        &self,
        disk: usize,
        id: &BlockId,
        index: u16,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        use std::io::Read;
        let d = self.disk(disk)?;
        d.check_gone(disk)?;
        buf.clear();
        let read = fs::File::open(layout::shard_path(&d.path, id, index))
            .and_then(|mut f| f.read_to_end(buf));
        match read {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound {
                disk,
                block: *id,
                index,
            }),
            Err(e) => Err(io_error(disk, e)),
        }
    }

    /// True if the shard file exists (not verified). False for unknown or gone disks.
    pub fn has_shard(&self, disk: usize, id: &BlockId, index: u16) -> bool {
        match self.disk(disk) {
            Ok(d) if d.fault() != Some(Fault::Gone) => {
                layout::shard_path(&d.path, id, index).is_file()
            }
            _ => false,
        }
    }

    /// Deletes a shard; returns whether it existed.
    pub fn delete_shard(&self, disk: usize, id: &BlockId, index: u16) -> Result<bool> {
        let d = self.disk(disk)?;
        d.check_gone(disk)?;
        match fs::remove_file(layout::shard_path(&d.path, id, index)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error(disk, e)),
        }
    }

    /// Lists every shard on a disk by walking the fan-out directories (order unspecified).
    /// Temp files and unknown names are skipped; nothing is read or verified.
    pub fn list_shards(&self, disk: usize) -> ShardIter {
        let start = self
            .disk(disk)
            .and_then(|d| d.check_gone(disk).map(|()| d))
            .and_then(|d| {
                let root = layout::shards_root(&d.path);
                match fs::read_dir(&root) {
                    Ok(rd) => Ok(Some(rd)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io_error(disk, e)),
                }
            });
        let (stack, error) = match start {
            Ok(rd) => (rd.map(|rd| (rd, String::new())).into_iter().collect(), None),
            Err(e) => (Vec::new(), Some(e)),
        };
        ShardIter { disk, stack, error }
    }

    /// Path of a shard file (for tests and scrubbing).
    ///
    /// # Panics
    /// If `disk >= disk_count()`.
    pub fn shard_path(&self, disk: usize, id: &BlockId, index: u16) -> PathBuf {
        layout::shard_path(&self.disks[disk].path, id, index)
    }

    /// Test and fault-injection hook: from now on, operations on `disk` fail as described
    /// by `fault` ([`Fault::Full`]: writes; [`Fault::Gone`]: everything). `None` heals it.
    ///
    /// # Panics
    /// If `disk >= disk_count()`.
    pub fn inject_fault(&self, disk: usize, fault: Option<Fault>) {
        let v = match fault {
            None => FAULT_NONE,
            Some(Fault::Full) => FAULT_FULL,
            Some(Fault::Gone) => FAULT_GONE,
        };
        self.disks[disk].fault.store(v, Ordering::Relaxed);
    }

    fn disk(&self, disk: usize) -> Result<&Disk> {
        self.disks.get(disk).ok_or(Error::NoSuchDisk(disk))
    }
}

impl Disk {
    fn fault(&self) -> Option<Fault> {
        match self.fault.load(Ordering::Relaxed) {
            FAULT_FULL => Some(Fault::Full),
            FAULT_GONE => Some(Fault::Gone),
            _ => None,
        }
    }

    fn check_gone(&self, disk: usize) -> Result<()> {
        if self.fault() == Some(Fault::Gone) {
            return Err(gone(disk));
        }
        Ok(())
    }
}

fn gone(disk: usize) -> Error {
    Error::Io {
        disk,
        source: io::Error::new(io::ErrorKind::NotFound, "disk is gone (injected fault)"),
    }
}

/// Maps an OS error, turning "no space" and "quota exceeded" into [`Error::DiskFull`].
fn io_error(disk: usize, e: io::Error) -> Error {
    match rustix::io::Errno::from_io_error(&e) {
        Some(rustix::io::Errno::NOSPC | rustix::io::Errno::DQUOT) => Error::DiskFull { disk },
        _ => Error::Io { disk, source: e },
    }
}

/// Removes the temp file on drop, unless disarmed once the rename succeeded.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn new(path: PathBuf) -> TempFile {
        TempFile { path, armed: true }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: a leftover is also removed by the next open.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates the fan-out directories of a shard if needed, fsyncing each parent whose
/// entries changed so the new directory survives a crash.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().expect("shard dirs are <disk>/shards/ab/cd");
    if !parent.is_dir() {
        create_dir(parent)?;
        sync_dir(parent.parent().expect("<disk>/shards/ab has a parent"))?;
    }
    create_dir(dir)?;
    sync_dir(parent)
}

/// `mkdir`, where losing a race to a concurrent writer is success.
fn create_dir(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads `<disk>/.liuma-disk`, creating it with a fresh random id on first open.
fn load_or_create_id(disk: usize, root: &Path) -> Result<DiskId> {
    let path = root.join(layout::DISK_ID_FILE);
    let io = |source| Error::Io { disk, source };
    let invalid = || Error::InvalidDisk {
        path: root.to_path_buf(),
    };
    match fs::read_to_string(&path) {
        Ok(s) => {
            let id = s.trim();
            return if is_valid_disk_id(id) {
                Ok(DiskId(id.to_string()))
            } else {
                Err(invalid())
            };
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(invalid()),
        Err(e) => return Err(io(e)),
    }
    let id = new_disk_id();
    // Write a temp file, then hard-link it into place: link fails if another process
    // created the id first, and the id file is never seen half written.
    let tmp = TempFile::new(root.join(format!(
        "{}.tmp.{:016x}",
        layout::DISK_ID_FILE,
        rand::random::<u64>()
    )));
    let create = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp.path)?;
        f.write_all(format!("{id}\n").as_bytes())?;
        f.sync_all()
    };
    create().map_err(io)?;
    match fs::hard_link(&tmp.path, &path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            drop(tmp);
            return load_or_create_id(disk, root);
        }
        // File systems without hard links: fall back to a plain rename.
        Err(_) => fs::rename(&tmp.path, &path).map_err(io)?,
    }
    drop(tmp);
    sync_dir(root).map_err(io)?;
    Ok(DiskId(id))
}

/// A random 128-bit id formatted like a version-4 UUID.
fn new_disk_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn is_valid_disk_id(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Removes `.tmp.*` files from every fan-out directory; returns how many.
fn remove_temp_files(root: &Path) -> io::Result<usize> {
    let mut removed = 0;
    // Stale id temp files at the root (crash during the first open).
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&format!("{}.tmp.", layout::DISK_ID_FILE)) {
            remove_if_present(&entry.path())?;
        }
    }
    for l1 in fanout_dirs(&layout::shards_root(root))? {
        for l2 in fanout_dirs(&l1)? {
            for entry in fs::read_dir(&l2)? {
                let entry = entry?;
                if layout::is_temp_file_name(&entry.file_name().to_string_lossy()) {
                    remove_if_present(&entry.path())?;
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn fanout_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if layout::is_fanout_dir_name(&entry.file_name().to_string_lossy())
            && entry.file_type()?.is_dir()
        {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Iterator over the shards of one disk, from [`ShardStore::list_shards`].
///
/// Yields `(block id, shard index)`; an I/O error is yielded once and the walk goes on
/// with the next directory.
pub struct ShardIter {
    disk: usize,
    /// Open directories, root first, each with the hex prefix its path encodes.
    stack: Vec<(ReadDir, String)>,
    error: Option<Error>,
}

impl Iterator for ShardIter {
    type Item = Result<(BlockId, u16)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        loop {
            let depth = self.stack.len();
            let (rd, prefix) = self.stack.last_mut()?;
            let entry = match rd.next() {
                None => {
                    self.stack.pop();
                    continue;
                }
                Some(Err(e)) => return Some(Err(io_error(self.disk, e))),
                Some(Ok(entry)) => entry,
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if depth < 3 {
                if !layout::is_fanout_dir_name(name) || !entry.path().is_dir() {
                    continue;
                }
                let prefix = format!("{prefix}{name}");
                match fs::read_dir(entry.path()) {
                    Ok(rd) => self.stack.push((rd, prefix)),
                    Err(e) => return Some(Err(io_error(self.disk, e))),
                }
                continue;
            }
            match layout::parse_shard_file_name(name) {
                // A shard in another block's directory is unreachable by path: not listed.
                Some((id, index)) if id.to_hex().starts_with(prefix.as_str()) => {
                    return Some(Ok((id, index)));
                }
                _ => continue,
            }
        }
    }
}
