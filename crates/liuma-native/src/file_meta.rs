//! What a native file keeps in its object's metadata: the file name
//! (validated, percent-encoded), the content type, the Content-Disposition
//! a download answers with, and the credential that uploaded it.

use liuma_engine::ObjectMeta;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{ApiError, Result};
use crate::token::Claims;

/// SHA-256 of the empty string: no native file may have it.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// User metadata key of the file name (percent-encoded UTF-8, so S3
/// clients see a plain ASCII header value).
pub const META_FILE_NAME: &str = "file-name";
/// User metadata key of the backend credential that minted the upload
/// token ("system" for the legacy system token).
pub const META_UPLOADED_BY: &str = "uploaded-by";

/// A file name is metadata only, never a path: 1-255 bytes of UTF-8, no
/// `/` or `\`, no control characters, not `.` or `..`.
pub fn validate_file_name(name: &str) -> Result<()> {
    let bad = |reason| Err(ApiError::InvalidFileName { reason });
    if name.is_empty() || name.len() > 255 {
        return bad("must be 1 to 255 bytes long");
    }
    if name.contains(['/', '\\']) {
        return bad("must not hold a path separator");
    }
    if name.chars().any(char::is_control) {
        return bad("must not hold control characters");
    }
    if name == "." || name == ".." || name.trim().is_empty() {
        return bad("must not be '.', '..' or blank");
    }
    Ok(())
}

/// Record which backend credential minted the upload token in `meta`.
pub(crate) fn set_uploaded_by(meta: &mut ObjectMeta, claims: &Claims) {
    let by = claims.minter.as_ref().map_or("system", |m| m.0.as_str());
    meta.user.insert(META_UPLOADED_BY.to_owned(), by.to_owned());
}

/// Object metadata of a native file: its name and content type.
pub(crate) fn file_meta(name: &str, content_type: Option<&str>) -> Result<ObjectMeta> {
    validate_file_name(name)?;
    let mut meta = ObjectMeta::default();
    if let Some(ct) = content_type.filter(|c| !c.is_empty()) {
        if ct.len() > 255 || !ct.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(ApiError::InvalidContentType);
        }
        meta.content_type = Some(ct.to_owned());
    }
    meta.user.insert(
        META_FILE_NAME.to_owned(),
        utf8_percent_encode(name, NAME_ENCODE).to_string(),
    );
    meta.headers
        .insert("content-disposition".to_owned(), content_disposition(name));
    Ok(meta)
}

/// What is percent-encoded in stored names: controls, non-ASCII, `%`.
const NAME_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// The file name stored in an object's metadata.
pub(crate) fn stored_name(meta: &ObjectMeta) -> Option<String> {
    let raw = meta.user.get(META_FILE_NAME)?;
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// RFC 5987 `attr-char`s stay as they are; everything else is encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` Content-Disposition for a stored file name.
pub(crate) fn content_disposition(name: &str) -> String {
    disposition("attachment", name)
}

/// `<kind>; filename="<ASCII fallback>"; filename*=UTF-8''<encoded>`
/// (RFC 6266): old clients get a readable ASCII name, others the exact one.
pub(crate) fn disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = utf8_percent_encode(name, ATTR_CHAR);
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        for ok in ["a.txt", "报告 2024.pdf", "..a", "a b"] {
            assert!(validate_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "..\\x",
            "a\nb",
            "a\0",
            "..",
            ".",
            " ",
            &"x".repeat(256),
        ] {
            assert!(validate_file_name(bad).is_err(), "{bad:?}");
        }
        let meta = file_meta("报告 2024.pdf", Some("application/pdf")).unwrap();
        assert!(meta.user[META_FILE_NAME].is_ascii());
        assert_eq!(stored_name(&meta).unwrap(), "报告 2024.pdf");
    }

    #[test]
    fn empty_hash_constant() {
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(b"")), EMPTY_SHA256);
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            content_disposition("报告 2024.pdf"),
            "attachment; filename=\"__ 2024.pdf\"; \
             filename*=UTF-8''%E6%8A%A5%E5%91%8A%202024.pdf"
        );
        assert_eq!(
            disposition("inline", "a\"b.txt"),
            "inline; filename=\"a_b.txt\"; filename*=UTF-8''a%22b.txt"
        );
    }
}
