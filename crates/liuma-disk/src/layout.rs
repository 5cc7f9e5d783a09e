//! Where things live on a disk. Paths derive only from a block id and a shard index,
//! never from user input, so no object key can escape the disk directory.
//!
//! ```text
//! <disk>/.liuma-disk                      disk id (one line, 0600)
//! <disk>/shards/ab/cd/<64-hex-id>.<index> shard frame (liuma_codec::format), 0600
//! <disk>/shards/ab/cd/.tmp.<id>.<index>.<random>
//!                                         write in progress; removed on open
//! ```
//!
//! `ab` and `cd` are the first two bytes of the id in hex: 65 536 leaf directories
//! keep each directory small even with hundreds of millions of shards.

use std::path::{Path, PathBuf};

use liuma_codec::BlockId;

/// Name of the file holding the disk id, at the disk root.
pub const DISK_ID_FILE: &str = ".liuma-disk";
/// Directory under the disk root that holds the shard fan-out.
pub const SHARDS_DIR: &str = "shards";
/// Prefix of temporary files (writes in progress).
pub const TEMP_PREFIX: &str = ".tmp.";

/// `<disk>/shards`.
pub fn shards_root(disk: &Path) -> PathBuf {
    disk.join(SHARDS_DIR)
}

/// `<disk>/shards/ab/cd`, the directory holding every shard of `id`.
pub fn shard_dir(disk: &Path, id: &BlockId) -> PathBuf {
    let hex = id.to_hex();
    shards_root(disk).join(&hex[0..2]).join(&hex[2..4])
}

/// `<64-hex-id>.<index>`.
pub fn shard_file_name(id: &BlockId, index: u16) -> String {
    format!("{}.{index}", id.to_hex())
}

/// Full path of a shard file.
pub fn shard_path(disk: &Path, id: &BlockId, index: u16) -> PathBuf {
    shard_dir(disk, id).join(shard_file_name(id, index))
}

/// `.tmp.<id>.<index>.<random>`: lives next to the final file so the rename is atomic.
pub fn temp_file_name(id: &BlockId, index: u16, random: u64) -> String {
    format!("{TEMP_PREFIX}{}.{index}.{random:016x}", id.to_hex())
}

/// True for names of temporary files.
pub fn is_temp_file_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// True for fan-out directory names: two lowercase hex characters.
pub fn is_fanout_dir_name(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Parses `<64-hex-id>.<index>` in canonical form (lowercase hex, decimal index without
/// leading zeros); anything else is not a shard file.
pub fn parse_shard_file_name(name: &str) -> Option<(BlockId, u16)> {
    let (hex, index) = name.split_once('.')?;
    if hex.bytes().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let id = BlockId::from_hex(hex).ok()?;
    let index: u16 = index.parse().ok()?;
    (shard_file_name(&id, index) == name).then_some((id, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let id = BlockId::from_hex(&format!("abcd{}", "0".repeat(60))).unwrap();
        let p = shard_path(Path::new("/d"), &id, 7);
        assert_eq!(
            p,
            PathBuf::from(format!("/d/shards/ab/cd/abcd{}.7", "0".repeat(60)))
        );
        assert_eq!(
            parse_shard_file_name(&shard_file_name(&id, 7)),
            Some((id, 7))
        );
        let t = temp_file_name(&id, 7, 42);
        assert!(is_temp_file_name(&t));
        assert_eq!(parse_shard_file_name(&t), None);
    }

    #[test]
    fn rejects_non_canonical_names() {
        let hex = BlockId::of(b"x").to_hex();
        for bad in [
            format!("{hex}.07"),
            format!("{hex}.+7"),
            format!("{hex}.70000"),
            format!("{hex}."),
            hex.clone(),
            format!("{}.1", hex.to_uppercase()),
            format!("{}.1", &hex[1..]),
            format!("{hex}.1.bak"),
            "README".to_string(),
        ] {
            assert_eq!(parse_shard_file_name(&bad), None, "{bad}");
        }
        assert_eq!(
            parse_shard_file_name(&format!("{hex}.0")).map(|x| x.1),
            Some(0)
        );
        assert_eq!(
            parse_shard_file_name(&format!("{hex}.65535")).map(|x| x.1),
            Some(65535)
        );
    }

    #[test]
    fn fanout_names() {
        assert!(is_fanout_dir_name("0f"));
        assert!(!is_fanout_dir_name("0F"));
        assert!(!is_fanout_dir_name("0g"));
        assert!(!is_fanout_dir_name("abc"));
    }
}
