//! Additional object checksums (S3's `x-amz-checksum-*`): the algorithms,
//! how a value is kept with a version or a part, and how the checksum of a
//! multipart object is made from its parts' checksums.
//!
//! The bytes are hashed by the front end while the body streams (it knows
//! headers and aws-chunked trailers); the engine stores what it is handed
//! through a [`LateChecksum`] — filled in only once the body has ended,
//! since a trailer arrives after the data — and combines part checksums
//! when an upload completes:
//!
//! - **full object** (CRC32, CRC32C, CRC64NVME): the CRC of the whole
//!   object, computed from the parts' CRCs and lengths with the CRC
//!   combination identity (`crc(A‖B)` from `crc(A)`, `crc(B)`, `|B|`), so
//!   completing an upload never reads its data;
//! - **composite** (CRC32, CRC32C, SHA-1, SHA-256): the checksum of the
//!   concatenated raw part checksums, shown as `base64-N`.
//!
//! CRC64NVME is full-object only and SHA-1/SHA-256 composite only, as AWS
//! documents ("Checking object integrity", "Using part-level checksums for
//! multipart uploads").

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crc_fast::CrcAlgorithm;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use sha1::Digest as _;

use crate::ingest::ByteStream;
use crate::model::PartRecord;
use crate::{Error, Result};

/// A checksum algorithm S3 clients can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    /// CRC-32/ISO-HDLC (zlib's).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME, S3's default since 2025.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

/// How a multipart object's checksum relates to its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumType {
    /// The checksum of the whole content (every single-part object).
    FullObject,
    /// The checksum of the parts' checksums (multipart objects only).
    Composite,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in the order S3 documents them.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The lower-case name used in headers (`x-amz-checksum-crc32`).
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "crc32",
            ChecksumAlgorithm::Crc32c => "crc32c",
            ChecksumAlgorithm::Crc64Nvme => "crc64nvme",
            ChecksumAlgorithm::Sha1 => "sha1",
            ChecksumAlgorithm::Sha256 => "sha256",
        }
    }

    /// The S3 name (`ChecksumAlgorithm` values: `CRC32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The algorithm of an S3 name, case-insensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// Length of a raw value in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// Whether a multipart object may have this type with this algorithm.
    pub fn allows(self, kind: ChecksumType) -> bool {
        match kind {
            ChecksumType::FullObject => self.crc().is_some(),
            ChecksumType::Composite => self != ChecksumAlgorithm::Crc64Nvme,
        }
    }

    /// The type a multipart upload gets when the client names only the
    /// algorithm: full object for CRC64NVME (its only type), else composite.
    pub fn default_type(self) -> ChecksumType {
        if self == ChecksumAlgorithm::Crc64Nvme {
            ChecksumType::FullObject
        } else {
            ChecksumType::Composite
        }
    }

    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            ChecksumAlgorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
        }
    }
}

impl ChecksumType {
    /// The S3 name (`FULL_OBJECT`, `COMPOSITE`).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }

    /// The type of an S3 name, case-insensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        [ChecksumType::FullObject, ChecksumType::Composite]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }
}

/// A checksum kept with a version or a part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// Algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// Full object or composite.
    pub kind: ChecksumType,
    /// The raw digest (4, 8, 20 or 32 bytes).
    pub value: Vec<u8>,
}

impl Checksum {
    /// A full-object checksum from its base64 form as sent by a client;
    /// None when it is not base64 of the algorithm's length.
    pub fn from_base64(algorithm: ChecksumAlgorithm, b64: &str) -> Option<Self> {
        let value = base64_simd::STANDARD
            .decode_to_vec(b64.trim().as_bytes())
            .ok()?;
        (value.len() == algorithm.digest_len()).then_some(Checksum {
            algorithm,
            kind: ChecksumType::FullObject,
            value,
        })
    }

    /// The value in base64, as S3 shows it (without any `-N` suffix).
    pub fn base64(&self) -> String {
        base64_simd::STANDARD.encode_to_string(&self.value)
    }

    /// The value as S3 shows it for an object of `parts` parts: composite
    /// checksums carry `-N`.
    pub fn display(&self, parts: u32) -> String {
        match self.kind {
            ChecksumType::Composite => format!("{}-{parts}", self.base64()),
            ChecksumType::FullObject => self.base64(),
        }
    }

    fn crc_value(&self) -> u64 {
        self.value
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    }
}

/// The size and checksum of one part of a multipart object, kept with the
/// version for GetObjectAttributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartChecksum {
    /// Part number.
    pub part_number: u32,
    /// Bytes.
    pub size: u64,
    /// The part's checksum in base64 (the object's algorithm), when it had one.
    pub checksum: Option<String>,
}

/// [`PartChecksum`] as stored: a MessagePack array `[number, size,
/// base64]`, no field names, so the 10,000 parts of a large upload stay
/// well inside a metadata value (etcd takes 1.5 MiB per request).
pub(crate) type StoredPart = (u32, u64, Option<String>);

impl From<&StoredPart> for PartChecksum {
    fn from((part_number, size, checksum): &StoredPart) -> Self {
        PartChecksum {
            part_number: *part_number,
            size: *size,
            checksum: checksum.clone(),
        }
    }
}

/// Checksums the front end computes over a body as it streams and hands
/// over once the body has ended (verified against the client's header or
/// trailer by then): the client's algorithm first, then, for a part of an
/// upload created without an algorithm, the default CRC64NVME the object
/// will get. Empty when the body did not end cleanly.
#[derive(Clone, Debug, Default)]
pub struct LateChecksum(Arc<Mutex<Vec<Checksum>>>);

impl LateChecksum {
    /// Record the checksums of the whole body.
    pub fn set(&self, c: Vec<Checksum>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = c;
    }

    /// The checksums, once set.
    pub fn get(&self) -> Vec<Checksum> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What a multipart upload was created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    /// Algorithm every part is checksummed with.
    pub algorithm: ChecksumAlgorithm,
    /// How the object's checksum is made from the parts'.
    pub kind: ChecksumType,
}

/// What CompleteMultipartUpload asks about checksums.
#[derive(Clone, Debug, Default)]
pub struct CompleteChecksum {
    /// `x-amz-checksum-type`: must match the upload's.
    pub kind: Option<ChecksumType>,
    /// `x-amz-checksum-<alg>`: the whole object's expected checksum
    /// (full-object uploads) or the composite value (`base64-N`).
    pub expected: Option<(ChecksumAlgorithm, String)>,
    /// Per listed part (same order as the parts), the checksum value the
    /// client listed for it, if any: must equal the stored one.
    pub parts: Vec<Option<(ChecksumAlgorithm, String)>>,
}

/// The checksum of a completed multipart object and the parts it keeps,
/// checked against what the client sent with CompleteMultipartUpload.
///
/// - Part checksums listed by the client must equal the stored ones
///   (`InvalidPart`, as AWS).
/// - An upload created without an algorithm whose parts all have the
///   default CRC64NVME gets a full-object CRC64NVME, as AWS adds it to
///   objects uploaded without a checksum.
/// - `x-amz-checksum-type` must be the upload's; an expected object
///   checksum must match (`BadDigest`).
pub(crate) fn complete(
    upload: Option<UploadChecksum>,
    parts: &[&PartRecord],
    req: &CompleteChecksum,
) -> Result<(Option<Checksum>, Vec<StoredPart>)> {
    for (part, listed) in parts.iter().zip(&req.parts) {
        let Some((alg, value)) = listed else { continue };
        let same = part
            .checksums
            .iter()
            .any(|c| c.algorithm == *alg && c.base64() == value.trim());
        if !same {
            return Err(Error::InvalidPart {
                part_number: part.part_number,
            });
        }
    }
    let of = |p: &PartRecord, alg: ChecksumAlgorithm| -> Option<Checksum> {
        p.checksums.iter().find(|c| c.algorithm == alg).cloned()
    };
    let default = parts
        .iter()
        .all(|p| of(p, ChecksumAlgorithm::Crc64Nvme).is_some())
        .then_some(UploadChecksum {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            kind: ChecksumType::FullObject,
        });
    if let (Some(asked), Some(up)) = (req.kind, upload)
        && asked != up.kind
    {
        return Err(Error::InvalidChecksum {
            reason: "the checksum type of the completion is not the one the upload was created with",
        });
    }
    if req.kind.is_some() && upload.is_none() {
        return Err(Error::InvalidChecksum {
            reason: "the upload was created without a checksum type",
        });
    }
    let chosen = upload.or(default);
    let sums: Vec<Option<Checksum>> = parts
        .iter()
        .map(|p| chosen.and_then(|up| of(p, up.algorithm)))
        .collect();
    let object = match chosen {
        Some(up) => {
            let list: Vec<(u32, u64, Option<&Checksum>)> = parts
                .iter()
                .zip(&sums)
                .map(|(p, c)| (p.part_number, p.size, c.as_ref()))
                .collect();
            Some(combine(up, &list)?)
        }
        None => None,
    };
    if let Some((alg, want)) = &req.expected {
        let Some(have) = &object else {
            return Err(Error::InvalidChecksum {
                reason: "the upload was created without a checksum algorithm",
            });
        };
        if have.algorithm != *alg {
            return Err(Error::InvalidChecksum {
                reason: "the checksum algorithm is not the one the upload was created with",
            });
        }
        let n = u32::try_from(parts.len()).unwrap_or(u32::MAX);
        let want = want.trim();
        if want != have.base64() && want != have.display(n) {
            return Err(Error::BadDigest {
                algorithm: alg.header_name(),
            });
        }
    }
    let stored = parts
        .iter()
        .zip(&sums)
        .map(|(p, c)| (p.part_number, p.size, c.as_ref().map(Checksum::base64)))
        .collect();
    Ok((object, stored))
}

/// An incremental hasher for one algorithm.
enum Hasher {
    Crc(ChecksumAlgorithm, crc_fast::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn new(alg: ChecksumAlgorithm) -> Self {
        match (alg, alg.crc()) {
            (ChecksumAlgorithm::Sha1, _) => Hasher::Sha1(sha1::Sha1::new()),
            (_, Some(crc)) => Hasher::Crc(alg, crc_fast::Digest::new(crc)),
            (_, None) => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(_, d) => d.update(data),
            Hasher::Sha1(d) => d.update(data),
            Hasher::Sha256(d) => d.update(data),
        }
    }

    fn finish(self) -> Checksum {
        let (algorithm, value) = match self {
            Hasher::Crc(alg, d) => (alg, raw(alg, d.finalize())),
            Hasher::Sha1(d) => (ChecksumAlgorithm::Sha1, d.finalize().to_vec()),
            Hasher::Sha256(d) => (ChecksumAlgorithm::Sha256, d.finalize().to_vec()),
        };
        Checksum {
            algorithm,
            kind: ChecksumType::FullObject,
            value,
        }
    }
}

/// `body` with `alg` computed over it as it passes (no copy); the
/// checksum is in the returned [`LateChecksum`] once the body has ended.
/// For bodies the engine makes itself (UploadPartCopy), whose parts need
/// the checksum their upload asks for.
pub(crate) fn hashing(body: ByteStream, alg: ChecksumAlgorithm) -> (ByteStream, LateChecksum) {
    let late = LateChecksum::default();
    let stream = Hashing {
        inner: body,
        hasher: Some(Hasher::new(alg)),
        late: late.clone(),
    };
    (Box::pin(stream), late)
}

struct Hashing {
    inner: ByteStream,
    hasher: Option<Hasher>,
    late: LateChecksum,
}

impl Stream for Hashing {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = std::task::ready!(this.inner.as_mut().poll_next(cx));
        match &item {
            Some(Ok(chunk)) => {
                if let Some(h) = this.hasher.as_mut() {
                    h.update(chunk);
                }
            }
            Some(Err(_)) => this.hasher = None,
            None => {
                if let Some(h) = this.hasher.take() {
                    this.late.set(vec![h.finish()]);
                }
            }
        }
        Poll::Ready(item)
    }
}

/// The CRC of `a ‖ b` from `crc(a)`, `crc(b)` and `|b|`.
fn crc_combine(alg: CrcAlgorithm, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    crc_fast::checksum_combine(alg, crc_a, crc_b, len_b)
}

fn raw(alg: ChecksumAlgorithm, v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    bytes[8 - alg.digest_len()..].to_vec()
}

/// The object checksum of a multipart upload made of `parts` (in order,
/// each with its size), or an error when a part lacks the checksum the
/// upload needs.
pub(crate) fn combine(
    upload: UploadChecksum,
    parts: &[(u32, u64, Option<&Checksum>)],
) -> Result<Checksum> {
    let alg = upload.algorithm;
    let mut sums = Vec::with_capacity(parts.len());
    for (number, size, c) in parts {
        match c {
            Some(c) if c.algorithm == alg => sums.push((*size, *c)),
            _ => {
                return Err(Error::InvalidPart {
                    part_number: *number,
                });
            }
        }
    }
    let value = match (upload.kind, alg.crc()) {
        (ChecksumType::FullObject, Some(crc)) => {
            let mut acc: Option<u64> = None;
            for (size, c) in sums {
                let v = c.crc_value();
                acc = Some(match acc {
                    None => v,
                    Some(a) => crc_combine(crc, a, v, size),
                });
            }
            // No part at all: the CRC of nothing.
            raw(alg, acc.unwrap_or_else(|| crc_fast::checksum(crc, &[])))
        }
        (ChecksumType::FullObject, None) => {
            return Err(Error::InvalidArgument {
                what: "SHA-1 and SHA-256 checksums of multipart uploads are composite only",
            });
        }
        (ChecksumType::Composite, _) => {
            let concat: Vec<u8> = sums.iter().flat_map(|(_, c)| c.value.clone()).collect();
            digest(alg, &concat)
        }
    };
    Ok(Checksum {
        algorithm: alg,
        kind: upload.kind,
        value,
    })
}

/// The raw checksum of `data` (composite checksums hash part checksums).
pub(crate) fn digest(alg: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    match alg {
        ChecksumAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        ChecksumAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64Nvme => {
            let crc = alg.crc().expect("a CRC algorithm");
            raw(alg, crc_fast::checksum(crc, data))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(alg: ChecksumAlgorithm, data: &[u8]) -> String {
        base64_simd::STANDARD.encode_to_string(digest(alg, data))
    }

    fn sum(alg: ChecksumAlgorithm, data: &[u8]) -> Checksum {
        Checksum {
            algorithm: alg,
            kind: ChecksumType::FullObject,
            value: digest(alg, data),
        }
    }

    #[test]
    fn known_vectors() {
        // The CRC catalogue's check values of "123456789".
        let d = b"123456789";
        assert_eq!(
            digest(ChecksumAlgorithm::Crc32, d),
            [0xcb, 0xf4, 0x39, 0x26]
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Crc32c, d),
            [0xe3, 0x06, 0x92, 0x83]
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Crc64Nvme, d),
            0xae8b_1486_0a79_9888u64.to_be_bytes()
        );
        // What AWS shows for "hello world" (aws s3api examples).
        assert_eq!(b64(ChecksumAlgorithm::Crc32, b"hello world"), "DUoRhQ==");
        assert_eq!(
            b64(ChecksumAlgorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn full_object_crcs_combine_from_parts() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let cuts = [0usize, 1, 4096, 4097, 9999, 10_000];
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            for w in cuts.windows(2) {
                let (a, b) = (w[0], w[1]);
                let pieces = [&data[..a], &data[a..b], &data[b..]];
                let sums: Vec<Checksum> = pieces.iter().map(|p| sum(alg, p)).collect();
                let parts: Vec<(u32, u64, Option<&Checksum>)> = pieces
                    .iter()
                    .zip(&sums)
                    .zip(1..)
                    .map(|((p, s), n)| (n, p.len() as u64, Some(s)))
                    .collect();
                let up = UploadChecksum {
                    algorithm: alg,
                    kind: ChecksumType::FullObject,
                };
                let got = combine(up, &parts).unwrap();
                assert_eq!(got.value, digest(alg, &data), "{alg:?} cut at {a},{b}");
            }
        }
    }

    #[test]
    fn composite_is_checksum_of_checksums() {
        let a = sum(ChecksumAlgorithm::Sha256, b"part one");
        let b = sum(ChecksumAlgorithm::Sha256, b"part two");
        let up = UploadChecksum {
            algorithm: ChecksumAlgorithm::Sha256,
            kind: ChecksumType::Composite,
        };
        let got = combine(up, &[(1, 8, Some(&a)), (2, 8, Some(&b))]).unwrap();
        let mut cat = a.value.clone();
        cat.extend(&b.value);
        assert_eq!(got.value, digest(ChecksumAlgorithm::Sha256, &cat));
        assert!(got.display(2).ends_with("-2"));
    }

    #[test]
    fn missing_or_foreign_part_checksum_is_invalid_part() {
        let a = sum(ChecksumAlgorithm::Crc32c, b"x");
        let up = UploadChecksum {
            algorithm: ChecksumAlgorithm::Crc32,
            kind: ChecksumType::FullObject,
        };
        assert!(matches!(
            combine(up, &[(1, 1, Some(&a))]),
            Err(Error::InvalidPart { part_number: 1 })
        ));
        assert!(matches!(
            combine(up, &[(3, 1, None)]),
            Err(Error::InvalidPart { part_number: 3 })
        ));
    }

    #[tokio::test]
    async fn hashing_stream_hands_over_its_checksum_at_the_end() {
        use futures_util::StreamExt;
        for alg in ChecksumAlgorithm::ALL {
            let chunks = vec![
                Ok(bytes::Bytes::from_static(b"1234")),
                Ok(bytes::Bytes::from_static(b"56789")),
            ];
            let (mut s, late) = hashing(Box::pin(futures_util::stream::iter(chunks)), alg);
            assert!(late.get().is_empty());
            while let Some(x) = s.next().await {
                x.unwrap();
            }
            assert_eq!(late.get(), vec![sum(alg, b"123456789")], "{alg:?}");
        }
    }

    #[test]
    fn types_allowed_per_algorithm() {
        use ChecksumAlgorithm::*;
        use ChecksumType::*;
        assert!(Crc64Nvme.allows(FullObject) && !Crc64Nvme.allows(Composite));
        assert!(Sha256.allows(Composite) && !Sha256.allows(FullObject));
        assert!(Crc32.allows(Composite) && Crc32.allows(FullObject));
        assert_eq!(Crc64Nvme.default_type(), FullObject);
        assert_eq!(Crc32c.default_type(), Composite);
        assert_eq!(ChecksumAlgorithm::from_name("crc64nvme"), Some(Crc64Nvme));
        assert_eq!(ChecksumType::from_name("full_object"), Some(FullObject));
        assert!(Checksum::from_base64(Crc32, "DUoRhQ==").is_some());
        assert!(Checksum::from_base64(Crc32, "DUoRhQAA").is_none());
        assert!(Checksum::from_base64(Crc32, "%%%").is_none());
    }
}
