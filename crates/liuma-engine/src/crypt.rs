//! Server-side encryption of blocks at rest (SSE-S3 and SSE-C).
//!
//! # Where it sits
//!
//! A block of an encrypted object is compressed (zstd, when it pays),
//! then sealed with AES-256-GCM into an *envelope*, and the envelope is
//! what the block store sees: Reed-Solomon coded and spread like any other
//! block. So shards on disk and on peers hold only ciphertext, any k shards
//! rebuild the envelope, and heal, scrub and re-encode verify and move
//! encrypted blocks without any key. A small object (up to the inline
//! threshold) keeps its envelope in its record instead of a block
//! (`Body::SealedInline`): records hold no plaintext either.
//!
//! # Convergent keys (dedup meets encryption)
//!
//! For a plaintext block `p` under a *domain key* (the SSE-S3 master key of
//! one key-ring version, or the SSE-C customer key), format 2:
//!
//! ```text
//! kid      = BLAKE3-keyed(id_key,  p)          id_key  = derive(domain, "block id")
//! data_key = BLAKE3-keyed(enc_key, kid)        enc_key = derive(domain, "block key")
//! msg      = zstd(p) or p
//! nonce    = p stored as is:  derive(data_key, "nonce v2 stored")[..12]
//!            zstd(p):         BLAKE3-keyed(derive(data_key, "nonce v2"), msg)[..12]
//! envelope = header || AES-256-GCM(data_key, nonce, msg, aad = header || kid)
//! block id = BLAKE3-derive-key("liuma sse block id v2", header || kid)
//! ```
//!
//! One hash pass over the plaintext per block (`kid`): the nonce of an
//! uncompressed block needs none (the data key belongs to one plaintext,
//! and an uncompressed message *is* that plaintext), a compressed one
//! hashes only the compressed message (SIV style: a change of zstd level
//! or version, another message under the same key, never reuses a nonce),
//! and the block id is derived from the header and `kid`, not hashed from
//! the envelope. The id still names exactly one envelope (the header holds
//! the nonce, which pins the message), so concurrent writers of one block
//! write identical shards. Such blocks are *opaque-id* blocks for the codec
//! (shard flag bit 2): their frames' BLAKE3 checksums, which every shard
//! carries anyway, are what heal, scrub, repair and re-encode verify, with
//! no key; a GET verifies nothing twice: it skips the frame checksums and
//! lets the GCM tag authenticate the envelope, and only when that fails
//! re-reads the block verifying every frame (to name and repair the rotten
//! shard) and opens it again.
//!
//! Equal plaintext under the same domain key gives the same envelope, hence
//! the same block id: SSE-S3 blocks dedup across the whole store (per key
//! version), SSE-C blocks only among objects under the same customer key,
//! and plain and encrypted copies never share a block (a plain id is an
//! unkeyed BLAKE3 hash, an encrypted one a derive-key hash). The id of an
//! encrypted block is never the plain BLAKE3 of its content, so disk
//! access alone cannot confirm a known file. `kid` is kept in the object's
//! block list (it is useless without the domain key).
//!
//! Format 1 (written before): the same, except `nonce =
//! BLAKE3-keyed(derive(data_key, "nonce v1"), msg)` for every message and
//! `block id = BLAKE3(envelope)` (an ordinary block for the codec, verified
//! by its id). Those blocks stay readable; new writes of the same content
//! get format-2 ids, so they do not dedup with format-1 blocks.
//!
//! # Key rotation
//!
//! Data keys are derived, not wrapped: a [`KeyRing`] keeps every master key
//! version; new writes use the newest, the envelope header names the
//! version it was sealed with, and older versions stay readable. Rotation
//! is therefore free (add a version), but *retiring* an old version means
//! rewriting (re-encrypting) every block sealed with it: there is no
//! metadata-only rewrap. Blocks written before and after a rotation do not
//! dedup with each other.
//!
//! # Envelope format (little-endian)
//!
//! ```text
//! offset len  field
//!      0   4  magic b"LMSE"
//!      4   1  format version: 2 (1 before, still read)
//!      5   1  mode: 1 = SSE-S3, 2 = SSE-C
//!      6   1  flags: bit 0 = the message is zstd-compressed
//!      7   1  reserved, zero
//!      8   4  master key version (SSE-S3), 0 for SSE-C
//!     12  12  nonce
//!     24      ciphertext of the message, then the 16-byte GCM tag
//! ```

use bytes::{Buf, Bytes, BytesMut};
use liuma_codec::BlockId;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Bytes of every key (AES-256).
pub const SSE_KEY_LEN: usize = 32;
const MAGIC: &[u8; 4] = b"LMSE";
/// Format of the envelopes written now (see the module docs).
const FORMAT: u8 = 2;
/// The first format: block id = BLAKE3 of the envelope. Read, not written.
const FORMAT_V1: u8 = 1;
const MODE_S3: u8 = 1;
const MODE_C: u8 = 2;
const FLAG_COMPRESSED: u8 = 1;
/// Bytes of an envelope's header (the layout above).
pub(crate) const HEADER_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Why a key or an envelope could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    /// The key ring text is not `v<N> <64 hex>` lines.
    #[error("malformed SSE key ring, line {line}: {reason}")]
    MalformedRing {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A block was sealed with a master key version the ring lacks.
    #[error("SSE master key version {version} is not in the key ring")]
    UnknownVersion {
        /// The version the envelope names.
        version: u32,
    },
    /// An SSE-C block was read without the customer key.
    #[error("the block is encrypted with a customer key that was not given")]
    CustomerKeyMissing,
    /// Not an envelope (wrong magic, format or length).
    #[error("not an encrypted block envelope: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The tag did not verify: wrong key, or tampered or corrupt bytes.
    #[error("encrypted block failed authentication (wrong key or tampered data)")]
    Authentication,
    /// The decrypted message did not decompress.
    #[error("encrypted block did not decompress: {0}")]
    Decompress(#[source] liuma_codec::Error),
}

/// One version of the SSE-S3 master key. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    /// Version number (1, 2, ...); recorded in every envelope.
    pub version: u32,
    key: [u8; SSE_KEY_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(v{}, ..)", self.version)
    }
}

/// Every version of the SSE-S3 master key, oldest first. New writes use
/// the newest; reads pick the version an envelope names.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<MasterKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing(versions {:?})", self.versions())
    }
}

fn random_key() -> [u8; SSE_KEY_LEN] {
    use rand::RngCore;
    let mut k = [0u8; SSE_KEY_LEN];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

impl KeyRing {
    /// A new ring with one random key, version 1.
    pub fn generate() -> KeyRing {
        KeyRing {
            keys: vec![MasterKey {
                version: 1,
                key: random_key(),
            }],
        }
    }

    /// A ring of one given key (version 1), e.g. from an external secret manager.
    pub fn single(key: [u8; SSE_KEY_LEN]) -> KeyRing {
        KeyRing {
            keys: vec![MasterKey { version: 1, key }],
        }
    }

    /// Parse the text form: one `v<N> <64 hex digits>` line per version
    /// (blank lines and `#` comments skipped). A file holding only 64 hex
    /// digits (or 32 raw bytes, see [`KeyRing::from_file_bytes`]) is version 1.
    pub fn parse(text: &str) -> Result<KeyRing, CryptError> {
        let mut keys: Vec<MasterKey> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason| CryptError::MalformedRing {
                line: i + 1,
                reason,
            };
            let (version, hexkey) = match line.split_once(char::is_whitespace) {
                Some((v, k)) => {
                    let v = v
                        .strip_prefix('v')
                        .and_then(|n| n.parse::<u32>().ok())
                        .filter(|&n| n > 0)
                        .ok_or_else(|| bad("version is not v<N> with N >= 1"))?;
                    (v, k.trim())
                }
                None if keys.is_empty() => (1, line),
                None => return Err(bad("expected `v<N> <hex key>`")),
            };
            let mut key = [0u8; SSE_KEY_LEN];
            hex::decode_to_slice(hexkey, &mut key)
                .map_err(|_| bad("the key is not 64 hex digits"))?;
            if keys.iter().any(|k| k.version == version) {
                return Err(bad("version given twice"));
            }
            keys.push(MasterKey { version, key });
        }
        if keys.is_empty() {
            return Err(CryptError::MalformedRing {
                line: 0,
                reason: "no key",
            });
        }
        keys.sort_by_key(|k| k.version);
        Ok(KeyRing { keys })
    }

    /// A key file as bytes: exactly 32 raw bytes (a KMS data key), else the text form.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<KeyRing, CryptError> {
        if let Ok(raw) = <[u8; SSE_KEY_LEN]>::try_from(bytes)
            && std::str::from_utf8(bytes).is_err()
        {
            return Ok(KeyRing::single(raw));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| CryptError::MalformedRing {
            line: 0,
            reason: "neither 32 raw bytes nor text",
        })?;
        KeyRing::parse(text)
    }

    /// The text form [`KeyRing::parse`] reads.
    pub fn to_text(&self) -> String {
        self.keys
            .iter()
            .map(|k| format!("v{} {}\n", k.version, hex::encode(k.key)))
            .collect()
    }

    /// This ring plus a new random key, one version above the newest.
    #[must_use]
    pub fn rotated(&self) -> KeyRing {
        let mut keys = self.keys.clone();
        keys.push(MasterKey {
            version: self.newest().version + 1,
            key: random_key(),
        });
        KeyRing { keys }
    }

    /// This ring without `version` (retirement); None when that would
    /// leave it empty or `version` is not in it.
    #[must_use]
    pub fn without(&self, version: u32) -> Option<KeyRing> {
        let keys: Vec<MasterKey> = self
            .keys
            .iter()
            .filter(|k| k.version != version)
            .cloned()
            .collect();
        (keys.len() + 1 == self.keys.len() && !keys.is_empty()).then_some(KeyRing { keys })
    }

    /// The key new writes use.
    pub fn newest(&self) -> &MasterKey {
        self.keys.last().expect("a ring is never empty")
    }

    /// The key of `version`.
    pub fn get(&self, version: u32) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.version == version)
    }

    /// Versions held, oldest first.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.version).collect()
    }

    /// The key that checks SSE-C customer keys (HMAC), of `version`.
    pub(crate) fn check_key(&self, version: u32) -> Option<[u8; 32]> {
        self.get(version)
            .map(|k| blake3::derive_key("liuma sse-c key check v1", &k.key))
    }
}

/// An SSE-C customer key, as the client sent it. Never stored; `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerKey([u8; SSE_KEY_LEN]);

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(..)")
    }
}

impl CustomerKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(key: [u8; SSE_KEY_LEN]) -> Self {
        CustomerKey(key)
    }

    /// HMAC (keyed BLAKE3) of the key under a server check key: what is
    /// stored to recognise the key later.
    pub(crate) fn mac(&self, check_key: &[u8; 32]) -> [u8; 32] {
        *blake3::keyed_hash(check_key, &self.0).as_bytes()
    }

    /// The ETag of an SSE-C object: not the MD5 of the data (AWS says so
    /// too), but a keyed hash of it, so the record does not let anyone
    /// confirm a known file.
    pub(crate) fn etag_of(&self, md5: &[u8; 16]) -> String {
        let k = blake3::derive_key("liuma sse-c etag v1", &self.0);
        hex::encode(&blake3::keyed_hash(&k, md5).as_bytes()[..16])
    }
}

/// Seals blocks for one encryption domain (one master key version, or one
/// customer key).
#[derive(Clone)]
pub(crate) struct Sealer {
    mode: u8,
    version: u32,
    id_key: [u8; 32],
    enc_key: [u8; 32],
}

impl Sealer {
    /// The SSE-S3 master-key version this sealer seals under (None: SSE-C).
    pub(crate) fn s3_version(&self) -> Option<u32> {
        (self.mode == MODE_S3).then_some(self.version)
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(mode {}, v{})", self.mode, self.version)
    }
}

/// A sealed block: the envelope and what the block list keeps.
pub(crate) struct Sealed {
    pub kid: [u8; 32],
    pub id: BlockId,
    pub envelope: Bytes,
}

/// How sealing compresses (the engine's codec settings).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Compression {
    pub enabled: bool,
    pub level: i32,
    pub min_saving_percent: u8,
}

impl Compression {
    /// No compression (inline bodies).
    pub const OFF: Compression = Compression {
        enabled: false,
        level: 0,
        min_saving_percent: 100,
    };
}

impl Sealer {
    fn new(mode: u8, version: u32, domain: &[u8; 32]) -> Sealer {
        Sealer {
            mode,
            version,
            id_key: blake3::derive_key(id_context(mode), domain),
            enc_key: enc_key(mode, domain),
        }
    }

    /// SSE-S3 under one master key version.
    pub fn s3(key: &MasterKey) -> Sealer {
        Sealer::new(MODE_S3, key.version, &key.key)
    }

    /// SSE-C under a customer key.
    pub fn customer(key: &CustomerKey) -> Sealer {
        Sealer::new(MODE_C, 0, &key.0)
    }

    /// Compress (when it pays) and encrypt `plain` (format 2).
    pub fn seal(&self, plain: &[u8], comp: Compression) -> Result<Sealed, CryptError> {
        #[cfg(feature = "testing")]
        if SEAL_FORMAT_1.load(std::sync::atomic::Ordering::SeqCst) {
            return self.seal_v1(plain, comp);
        }
        // The one pass over the plaintext besides AES-GCM.
        let kid = *blake3::keyed_hash(&self.id_key, plain).as_bytes();
        let compressed = if comp.enabled {
            liuma_codec::compress::maybe_compress(plain, comp.level, comp.min_saving_percent)
                .map_err(CryptError::Decompress)?
        } else {
            None
        };
        let (msg, flags): (&[u8], u8) = match &compressed {
            Some(c) => (c, FLAG_COMPRESSED),
            None => (plain, 0),
        };
        let data_key = *blake3::keyed_hash(&self.enc_key, &kid).as_bytes();
        let nonce = if compressed.is_some() {
            let nonce_key = blake3::derive_key("liuma sse block nonce v2", &data_key);
            *blake3::keyed_hash(&nonce_key, msg).as_bytes()
        } else {
            // The message is the plaintext itself, the only one this data
            // key ever seals: a nonce fixed per data key never repeats.
            blake3::derive_key("liuma sse block nonce v2 stored", &data_key)
        };
        let header = self.header(FORMAT, flags, &nonce);
        let aad = aad(&header, &kid);
        // One copy (the plaintext buffer is shared with the MD5 hasher),
        // encrypted in place; the tag is appended.
        let mut envelope = Vec::with_capacity(HEADER_LEN + msg.len() + TAG_LEN);
        envelope.extend_from_slice(&header);
        envelope.extend_from_slice(msg);
        let tag = aead_key(&data_key)
            .seal_in_place_separate_tag(
                nonce_of(&header),
                Aad::from(&aad),
                &mut envelope[HEADER_LEN..],
            )
            .map_err(|_| CryptError::Authentication)?;
        envelope.extend_from_slice(tag.as_ref());
        let id = BlockId(
            *blake3::Hasher::new_derive_key("liuma sse block id v2")
                .update(&header)
                .update(&kid)
                .finalize()
                .as_bytes(),
        );
        Ok(Sealed {
            kid,
            id,
            envelope: Bytes::from(envelope),
        })
    }

    fn header(&self, format: u8, flags: u8, nonce: &[u8; 32]) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = format;
        header[5] = self.mode;
        header[6] = flags;
        header[8..12].copy_from_slice(&self.version.to_le_bytes());
        header[12..24].copy_from_slice(&nonce[..12]);
        header
    }

    /// Format 1, as written before format 2 (block id = BLAKE3 of the
    /// envelope): tests prove such stores stay readable.
    #[cfg(any(test, feature = "testing"))]
    pub fn seal_v1(&self, plain: &[u8], comp: Compression) -> Result<Sealed, CryptError> {
        let kid = *blake3::keyed_hash(&self.id_key, plain).as_bytes();
        let compressed = if comp.enabled {
            liuma_codec::compress::maybe_compress(plain, comp.level, comp.min_saving_percent)
                .map_err(CryptError::Decompress)?
        } else {
            None
        };
        let (msg, flags): (&[u8], u8) = match &compressed {
            Some(c) => (c, FLAG_COMPRESSED),
            None => (plain, 0),
        };
        let data_key = *blake3::keyed_hash(&self.enc_key, &kid).as_bytes();
        let nonce_key = blake3::derive_key("liuma sse block nonce v1", &data_key);
        let nonce = blake3::keyed_hash(&nonce_key, msg);
        let header = self.header(FORMAT_V1, flags, nonce.as_bytes());
        let aad = aad(&header, &kid);
        let mut envelope = Vec::with_capacity(HEADER_LEN + msg.len() + TAG_LEN);
        envelope.extend_from_slice(&header);
        envelope.extend_from_slice(msg);
        let tag = aead_key(&data_key)
            .seal_in_place_separate_tag(
                nonce_of(&header),
                Aad::from(&aad),
                &mut envelope[HEADER_LEN..],
            )
            .map_err(|_| CryptError::Authentication)?;
        envelope.extend_from_slice(tag.as_ref());
        let id = BlockId::of(&envelope);
        Ok(Sealed {
            kid,
            id,
            envelope: Bytes::from(envelope),
        })
    }
}

fn id_context(mode: u8) -> &'static str {
    if mode == MODE_S3 {
        "liuma sse-s3 block id v1"
    } else {
        "liuma sse-c block id v1"
    }
}

/// The key data keys are derived from, for a domain key.
fn enc_key(mode: u8, domain: &[u8; 32]) -> [u8; 32] {
    let ctx = if mode == MODE_S3 {
        "liuma sse-s3 block key v1"
    } else {
        "liuma sse-c block key v1"
    };
    blake3::derive_key(ctx, domain)
}

/// Tests: seal in format 1 (see `testing::seal_format_1`).
#[cfg(feature = "testing")]
pub(crate) static SEAL_FORMAT_1: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether a block of this id and envelope is an opaque-id block for the
/// codec (format 2 and later), rather than named by the envelope's hash.
pub(crate) fn is_opaque_envelope(envelope: &[u8]) -> bool {
    envelope.get(4).is_some_and(|&f| f != FORMAT_V1)
}

/// The AES-256-GCM key of a data key.
fn aead_key(data_key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, data_key).expect("AES-256 takes any 32-byte key"),
    )
}

/// The nonce an envelope header carries.
fn nonce_of(header: &[u8; HEADER_LEN]) -> Nonce {
    Nonce::assume_unique_for_key(header[12..24].try_into().expect("12 bytes"))
}

fn aad(header: &[u8; HEADER_LEN], kid: &[u8; 32]) -> [u8; HEADER_LEN + 32] {
    let mut aad = [0u8; HEADER_LEN + 32];
    aad[..HEADER_LEN].copy_from_slice(header);
    aad[HEADER_LEN..].copy_from_slice(kid);
    aad
}

/// The master key version an SSE-S3 envelope names (None: not an SSE-S3
/// envelope). Reads the header only; nothing is decrypted.
pub(crate) fn envelope_key_version(envelope: &[u8]) -> Option<u32> {
    let header = envelope.get(..HEADER_LEN)?;
    // Both formats: a store keeps format-1 envelopes until they are
    // re-encrypted, and retirement must see them.
    (&header[..4] == MAGIC && matches!(header[4], FORMAT | FORMAT_V1) && header[5] == MODE_S3)
        .then(|| u32::from_le_bytes([header[8], header[9], header[10], header[11]]))
}

/// Decrypt (and decompress) an envelope of a block of `plain_len` bytes
/// whose block-list entry holds `kid`. Decrypts in place when the caller
/// held the only reference to the envelope's buffer (else one copy).
pub(crate) fn open(
    ring: Option<&KeyRing>,
    customer: Option<&CustomerKey>,
    kid: &[u8; 32],
    envelope: Bytes,
    plain_len: u64,
) -> Result<Bytes, CryptError> {
    if envelope.len() < HEADER_LEN + TAG_LEN {
        return Err(CryptError::Malformed {
            reason: "too short",
        });
    }
    let header: [u8; HEADER_LEN] = envelope[..HEADER_LEN]
        .try_into()
        .expect("length checked above");
    if &header[..4] != MAGIC || !matches!(header[4], FORMAT | FORMAT_V1) || header[7] != 0 {
        return Err(CryptError::Malformed {
            reason: "bad magic, format or reserved byte",
        });
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    let enc_key = match header[5] {
        MODE_S3 => {
            let key = ring
                .and_then(|r| r.get(version))
                .ok_or(CryptError::UnknownVersion { version })?;
            enc_key(MODE_S3, &key.key)
        }
        MODE_C => enc_key(MODE_C, &customer.ok_or(CryptError::CustomerKeyMissing)?.0),
        _ => {
            return Err(CryptError::Malformed {
                reason: "unknown mode",
            });
        }
    };
    let data_key = *blake3::keyed_hash(&enc_key, kid).as_bytes();
    let aad = aad(&header, kid);
    let mut buf = envelope
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(shared.as_ref()));
    let tag_at = buf.len() - TAG_LEN;
    aead_key(&data_key)
        .open_in_place(nonce_of(&header), Aad::from(&aad), &mut buf[HEADER_LEN..])
        .map_err(|_| CryptError::Authentication)?;
    buf.truncate(tag_at);
    buf.advance(HEADER_LEN);
    let msg = buf.freeze();
    if header[6] & FLAG_COMPRESSED != 0 {
        let plain = liuma_codec::compress::decompress(BlockId(*kid), &msg, plain_len)
            .map_err(CryptError::Decompress)?;
        Ok(Bytes::from(plain))
    } else {
        Ok(msg)
    }
}

/// How a version (or an open upload) is encrypted, as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Sse {
    /// SSE-S3: keys from the node's master key ring.
    S3,
    /// SSE-C: keys from a customer key that is never stored.
    Customer {
        /// Base64 MD5 of the customer key (AWS answers it on HEAD/GET).
        key_md5: String,
        /// Keyed hash of the customer key under the check key of master
        /// key version `check_version`: recognises the key, reveals nothing.
        mac: [u8; 32],
        /// The master key version `mac` was made with.
        check_version: u32,
    },
}

impl Sse {
    /// The customer key MD5 of an SSE-C version.
    pub fn customer_key_md5(&self) -> Option<&str> {
        match self {
            Sse::Customer { key_md5, .. } => Some(key_md5),
            Sse::S3 => None,
        }
    }
}

/// What a write asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseRequest {
    /// `x-amz-server-side-encryption: AES256`.
    S3,
    /// `x-amz-server-side-encryption-customer-*`.
    Customer(CustomerKey),
}

/// A bucket's default encryption (PutBucketEncryption). Only SSE-S3
/// exists without a KMS, so the presence of the record is the setting.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BucketEncryption {
    /// `BucketKeyEnabled` as the client set it (answered back; it changes
    /// nothing here: there is no KMS to spare calls to).
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

impl CustomerKey {
    /// Base64 of the MD5 of the key, as `x-amz-server-side-encryption-customer-key-MD5` carries it.
    pub fn md5_base64(&self) -> String {
        use md5::Digest;
        let d = md5::Md5::digest(self.0);
        base64_simd::STANDARD.encode_to_string(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMP: Compression = Compression {
        enabled: true,
        level: 1,
        min_saving_percent: 5,
    };

    fn random(n: usize) -> Vec<u8> {
        (0..n).map(|_| rand::random::<u8>()).collect()
    }

    #[test]
    fn s3_round_trip_and_convergence() {
        let ring = KeyRing::generate();
        let s = Sealer::s3(ring.newest());
        for plain in [random(100_000), b"text ".repeat(10_000), Vec::new()] {
            let a = s.seal(&plain, COMP).unwrap();
            let b = s.seal(&plain, COMP).unwrap();
            assert_eq!(a.id, b.id, "same content, same domain: same block");
            assert_eq!(a.envelope, b.envelope);
            assert_ne!(a.id, BlockId::of(&plain), "never the plain id");
            assert_ne!(a.id, BlockId::of(&a.envelope), "format 2: an opaque id");
            assert!(is_opaque_envelope(&a.envelope));
            let back = open(
                Some(&ring),
                None,
                &a.kid,
                a.envelope.clone(),
                plain.len() as u64,
            )
            .unwrap();
            assert_eq!(back, plain);
        }
        // compressible text is compressed before encryption
        let text = b"liuma ".repeat(50_000);
        let sealed = s.seal(&text, COMP).unwrap();
        assert!(sealed.envelope.len() < text.len() / 10);
    }

    #[test]
    fn no_plaintext_in_the_envelope() {
        let ring = KeyRing::generate();
        let plain = random(8192);
        let sealed = Sealer::s3(ring.newest()).seal(&plain, COMP).unwrap();
        for w in plain.chunks(32) {
            assert!(!sealed.envelope.windows(32).any(|e| e == w));
        }
    }

    #[test]
    fn customer_keys_are_separate_domains() {
        let k1 = CustomerKey::from_bytes([1; 32]);
        let k2 = CustomerKey::from_bytes([2; 32]);
        let plain = random(5000);
        let a = Sealer::customer(&k1).seal(&plain, COMP).unwrap();
        let b = Sealer::customer(&k2).seal(&plain, COMP).unwrap();
        let again = Sealer::customer(&k1).seal(&plain, COMP).unwrap();
        assert_ne!(a.id, b.id, "two customer keys never share a block");
        assert_eq!(a.id, again.id, "the same customer key dedups");
        let ring = KeyRing::generate();
        let s3 = Sealer::s3(ring.newest()).seal(&plain, COMP).unwrap();
        assert_ne!(a.id, s3.id);
        assert_eq!(
            open(None, Some(&k1), &a.kid, a.envelope.clone(), 5000).unwrap(),
            plain
        );
        // the wrong key fails authentication; no key is its own error
        assert!(matches!(
            open(None, Some(&k2), &a.kid, a.envelope.clone(), 5000),
            Err(CryptError::Authentication)
        ));
        assert!(matches!(
            open(Some(&ring), None, &a.kid, a.envelope.clone(), 5000),
            Err(CryptError::CustomerKeyMissing)
        ));
    }

    #[test]
    fn tampering_fails_authentication() {
        let ring = KeyRing::generate();
        let plain = random(3000);
        let sealed = Sealer::s3(ring.newest()).seal(&plain, COMP).unwrap();
        for pos in [0usize, 5, 13, 30, sealed.envelope.len() - 1] {
            let mut bad = sealed.envelope.to_vec();
            bad[pos] ^= 0x40;
            assert!(
                open(Some(&ring), None, &sealed.kid, Bytes::from(bad), 3000).is_err(),
                "byte {pos}"
            );
        }
        let mut kid = sealed.kid;
        kid[0] ^= 1;
        assert!(matches!(
            open(Some(&ring), None, &kid, sealed.envelope.clone(), 3000),
            Err(CryptError::Authentication)
        ));
        // another ring (another node's key) cannot open it
        let other = KeyRing::generate();
        assert!(matches!(
            open(
                Some(&other),
                None,
                &sealed.kid,
                sealed.envelope.clone(),
                3000
            ),
            Err(CryptError::Authentication)
        ));
    }

    #[test]
    fn ring_versions_rotate_and_stay_readable() {
        let ring = KeyRing::generate();
        let plain = random(4000);
        let old = Sealer::s3(ring.newest()).seal(&plain, COMP).unwrap();
        let ring2 = ring.rotated();
        assert_eq!(ring2.versions(), vec![1, 2]);
        assert_eq!(ring2.newest().version, 2);
        let new = Sealer::s3(ring2.newest()).seal(&plain, COMP).unwrap();
        assert_ne!(old.id, new.id, "a new version is a new dedup domain");
        assert_eq!(
            open(Some(&ring2), None, &old.kid, old.envelope.clone(), 4000).unwrap(),
            plain
        );
        assert_eq!(
            open(Some(&ring2), None, &new.kid, new.envelope.clone(), 4000).unwrap(),
            plain
        );
        // a ring without version 2 cannot read what version 2 sealed
        assert!(matches!(
            open(Some(&ring), None, &new.kid, new.envelope.clone(), 4000),
            Err(CryptError::UnknownVersion { version: 2 })
        ));
        // text form round trip
        let parsed = KeyRing::parse(&ring2.to_text()).unwrap();
        assert_eq!(parsed, ring2);
        assert!(!format!("{ring2:?}").contains(&hex::encode(ring2.newest().key)));
        assert!(KeyRing::parse("v1 abcd").is_err());
        assert!(KeyRing::parse("").is_err());
        let k = "11".repeat(32);
        assert!(KeyRing::parse(&format!("v1 {k}\nv1 {k}")).is_err());
        assert_eq!(KeyRing::parse(&k).unwrap().versions(), vec![1]);
        assert_eq!(
            KeyRing::from_file_bytes(&[0xff; 32]).unwrap().versions(),
            vec![1]
        );
    }

    /// Envelopes of format 1 (what stores written before hold) still
    /// open; they keep their hashed ids, format 2 is a new dedup domain,
    /// and the two never share a nonce for one data key.
    #[test]
    fn format_1_envelopes_stay_readable() {
        let ring = KeyRing::generate();
        let s = Sealer::s3(ring.newest());
        for plain in [random(70_000), b"text ".repeat(10_000)] {
            let old = s.seal_v1(&plain, COMP).unwrap();
            assert_eq!(old.envelope[4], FORMAT_V1);
            assert_eq!(old.id, BlockId::of(&old.envelope));
            assert!(!is_opaque_envelope(&old.envelope));
            let n = plain.len() as u64;
            assert_eq!(
                open(Some(&ring), None, &old.kid, old.envelope.clone(), n).unwrap(),
                plain
            );
            let new = s.seal(&plain, COMP).unwrap();
            // retirement counts both formats under their key version
            let v = Some(ring.newest().version);
            assert_eq!(envelope_key_version(&old.envelope), v);
            assert_eq!(envelope_key_version(&new.envelope), v);
            assert_eq!(new.kid, old.kid);
            assert_ne!(new.id, old.id);
            assert_ne!(new.envelope[12..24], old.envelope[12..24], "nonce");
            assert_eq!(
                open(Some(&ring), None, &new.kid, new.envelope.clone(), n).unwrap(),
                plain
            );
        }
        // a fixed format-1 envelope (sealed by the code before format 2)
        let ring = KeyRing::single([0x11; 32]);
        let golden = Sealer::s3(ring.newest())
            .seal_v1(b"golden block", COMP)
            .unwrap();
        assert_eq!(
            open(Some(&ring), None, &golden.kid, golden.envelope, 12).unwrap(),
            &b"golden block"[..]
        );
    }

    /// ring's AES-256-GCM is the standard one (envelopes sealed before by
    /// RustCrypto `aes-gcm` open): a vector computed with OpenSSL.
    #[test]
    fn aes_gcm_matches_openssl() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let mut buf = b"liuma sse golden block".to_vec();
        let tag = aead_key(&key)
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([7; 12]),
                Aad::from(b"liuma aad"),
                &mut buf,
            )
            .unwrap();
        buf.extend_from_slice(tag.as_ref());
        assert_eq!(
            hex::encode(&buf),
            "6303d3310e2fa487a3bd74efec3591f5813ee11ceb9c72b08146e4ad321f4dd7de33b4ddf9a8"
        );
    }

    #[test]
    fn opening_in_place_leaves_shared_buffers_alone() {
        let ring = KeyRing::generate();
        let plain = random(10_000);
        let sealed = Sealer::s3(ring.newest()).seal(&plain, COMP).unwrap();
        let keep = sealed.envelope.clone();
        let back = open(Some(&ring), None, &sealed.kid, sealed.envelope, 10_000).unwrap();
        assert_eq!(back, plain);
        assert_eq!(
            open(Some(&ring), None, &sealed.kid, keep.clone(), 10_000).unwrap(),
            plain
        );
        // the shared buffer was copied, not decrypted in place
        assert!(!keep.windows(32).any(|w| w == &plain[100..132]));
    }

    #[test]
    fn customer_key_mac_and_etag() {
        let ring = KeyRing::generate();
        let ck = ring.check_key(1).unwrap();
        let k1 = CustomerKey::from_bytes([1; 32]);
        let k2 = CustomerKey::from_bytes([2; 32]);
        assert_ne!(k1.mac(&ck), k2.mac(&ck));
        assert_eq!(k1.mac(&ck), k1.mac(&ck));
        let md5 = [7u8; 16];
        assert_ne!(k1.etag_of(&md5), hex::encode(md5));
        assert_eq!(k1.etag_of(&md5).len(), 32);
    }
}
