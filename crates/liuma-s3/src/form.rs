//! `multipart/form-data` of a POST Object upload, streamed.
//!
//! [`read_form`] reads the form fields that precede the `file` part (at most
//! [`MAX_PRE_DATA`] bytes, as AWS limits them) and returns them with a
//! [`FileStream`] over the file's bytes, which are never held whole: the
//! stream hands each received chunk on as soon as it cannot be the start of
//! the closing delimiter, and it enforces the policy's size range while it
//! runs (too large fails at once, too small at the end, so the engine never
//! commits either). Fields after the file are ignored, as AWS does.
//!
//! s3s 0.14 has its own parser, but it is private to s3s and its POST path
//! collects the whole file in memory before any access check.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use memchr::memmem;
use s3s::Body;

use crate::body::BodyError;

/// Largest section of the form before the file's bytes (AWS: 20 KB, else
/// `MaxPostPreDataLengthExceeded`).
pub(crate) const MAX_PRE_DATA: usize = 20 << 10;

/// Why the form could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FormError {
    /// Not well-formed multipart/form-data.
    #[error("The body of your POST request is not well-formed multipart/form-data.")]
    Malformed,
    /// The fields before the file exceed [`MAX_PRE_DATA`].
    #[error("Your POST request fields preceding the upload file were too large.")]
    PreDataTooLarge,
    /// The form has no `file` field.
    #[error("POST requires exactly one file upload per request.")]
    NoFile,
    /// The request body failed while the fields were read.
    #[error("reading the request body failed: {0}")]
    Stream(#[source] s3s::StdError),
}

/// The form fields before the file, and the file's name.
#[derive(Debug, Default)]
pub(crate) struct Form {
    /// (lowercase name, value) in form order.
    pub fields: Vec<(String, String)>,
    /// The file part's `filename` (its last path segment), "" when absent.
    pub filename: String,
}

impl Form {
    /// The value of field `name` (lowercase); the first one if repeated.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The boundary of a `multipart/form-data` content type, or None when the
/// content type is something else.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let mime = parts.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty() && v.len() <= 70).then(|| v.to_owned())
    })
}

/// One parse of the fields, from the start of what has arrived.
enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// The fields, and the offset of the file's first byte.
    File(Form, usize),
}

/// Read the fields up to the file part; the rest of `body` is the file.
pub(crate) async fn read_form(
    mut body: Body,
    boundary: &str,
) -> Result<(Form, FileStream), FormError> {
    let mut buf = BytesMut::new();
    loop {
        if let Parsed::File(form, offset) = parse(&buf, boundary.as_bytes())? {
            let rest = buf.split_off(offset);
            let file = FileStream {
                body,
                buf: rest,
                delim: [b"\r\n--", boundary.as_bytes()].concat().into(),
                received: 0,
                min: 0,
                max: u64::MAX,
                drained: 0,
                state: State::Streaming,
            };
            return Ok((form, file));
        }
        // The parse re-reads the pre-data each time more arrives; it is
        // bounded by the limit, so that costs little.
        if buf.len() > MAX_PRE_DATA + 1024 {
            return Err(FormError::PreDataTooLarge);
        }
        match body.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(FormError::Stream(e)),
            None => return Err(FormError::Malformed),
        }
    }
}

fn parse(buf: &[u8], boundary: &[u8]) -> Result<Parsed, FormError> {
    let dash: Vec<u8> = [b"--", boundary].concat();
    let delim: Vec<u8> = [b"\r\n--", boundary].concat();
    let Some(first) = memmem::find(buf, &dash) else {
        return incomplete(buf.len());
    };
    let mut pos = first + dash.len();
    let mut form = Form::default();
    loop {
        // after a delimiter: "--" ends the body, CRLF starts a part
        let Some(after) = buf.get(pos..pos + 2) else {
            return incomplete(pos);
        };
        match after {
            b"--" => return Err(FormError::NoFile),
            b"\r\n" => pos += 2,
            _ => return Err(FormError::Malformed),
        }
        let Some(end) = memmem::find(&buf[pos..], b"\r\n\r\n") else {
            return incomplete(buf.len());
        };
        let head =
            std::str::from_utf8(&buf[pos..pos + end + 2]).map_err(|_| FormError::Malformed)?;
        let (name, filename) = disposition(head).ok_or(FormError::Malformed)?;
        pos += end + 4;
        if name.eq_ignore_ascii_case("file") {
            if pos > MAX_PRE_DATA {
                return Err(FormError::PreDataTooLarge);
            }
            form.filename = filename.unwrap_or_default();
            return Ok(Parsed::File(form, pos));
        }
        let Some(len) = memmem::find(&buf[pos..], &delim) else {
            return incomplete(buf.len());
        };
        let value = std::str::from_utf8(&buf[pos..pos + len]).map_err(|_| FormError::Malformed)?;
        form.fields
            .push((name.to_ascii_lowercase(), value.to_owned()));
        pos += len + delim.len();
    }
}

fn incomplete(seen: usize) -> Result<Parsed, FormError> {
    if seen > MAX_PRE_DATA {
        Err(FormError::PreDataTooLarge)
    } else {
        Ok(Parsed::Incomplete)
    }
}

/// The field name and file name of a part's headers (`Content-Disposition:
/// form-data; name="x"; filename="y"`); the file name reduced to its last
/// path segment (old browsers send a whole path).
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let line = head.split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v)
    })?;
    let mut params = split_params(line).into_iter();
    let kind = params.next()?;
    if !kind.0.eq_ignore_ascii_case("form-data") {
        return None;
    }
    let mut name = None;
    let mut filename = None;
    for (k, v) in params {
        if k.eq_ignore_ascii_case("name") {
            name = Some(v);
        } else if k.eq_ignore_ascii_case("filename") {
            let base = v.rsplit(['/', '\\']).next().unwrap_or_default().to_owned();
            filename = Some(base);
        }
    }
    Some((name?, filename))
}

/// `a; k="v"; k2=v2` as (name, value) pairs.
fn split_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == ';' || c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                // Browsers do not escape inside the quotes (WHATWG: `"` is
                // sent as %22), and old ones send Windows paths with `\`.
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    value.push(c);
                }
                while chars.peek().is_some_and(|&c| c != ';') {
                    chars.next();
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim_end().to_owned();
            }
        }
        let key = key.trim();
        if !key.is_empty() {
            out.push((key.to_owned(), value));
        }
        if chars.next().is_none() {
            return out;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Streaming,
    /// The delimiter was found: check the minimum, then drain.
    Ended,
    /// Read what follows the file (fields AWS ignores, the closing
    /// delimiter) so the connection can carry the next request.
    Draining,
    Done,
}

/// Most bytes read after the file to keep a connection usable; beyond,
/// the rest is left unread (and the connection is not reused).
const MAX_EPILOGUE: usize = 64 << 10;

/// The file's bytes, up to the delimiter that closes the file part.
pub(crate) struct FileStream {
    body: Body,
    buf: BytesMut,
    /// `CRLF--boundary`
    delim: Box<[u8]>,
    received: u64,
    min: u64,
    max: u64,
    drained: usize,
    state: State,
}

impl std::fmt::Debug for FileStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStream")
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl FileStream {
    /// Allow only files of `min..=max` bytes (the policy's `content-length-range`).
    pub(crate) fn limit(&mut self, (min, max): (u64, u64)) {
        self.min = min;
        self.max = max;
    }

    /// Count `data` against the range's maximum before handing it on.
    fn give(&mut self, data: Bytes) -> Poll<Option<Result<Bytes, BodyError>>> {
        self.received += data.len() as u64;
        if self.received > self.max {
            self.state = State::Done;
            return Poll::Ready(Some(Err(BodyError::TooLarge { max: self.max })));
        }
        Poll::Ready(Some(Ok(data)))
    }
}

impl Stream for FileStream {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.state {
                State::Done => return Poll::Ready(None),
                State::Ended => {
                    if this.received < this.min {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(BodyError::TooSmall { min: this.min })));
                    }
                    this.state = State::Draining;
                    continue;
                }
                State::Draining => match this.body.poll_next_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(chunk))) if this.drained < MAX_EPILOGUE => {
                        this.drained += chunk.len();
                        continue;
                    }
                    Poll::Ready(_) => {
                        this.state = State::Done;
                        return Poll::Ready(None);
                    }
                },
                State::Streaming => {}
            }
            if let Some(i) = memmem::find(&this.buf, &this.delim) {
                // What follows the delimiter (more parts, the epilogue) is
                // ignored, as AWS ignores fields after the file.
                this.state = State::Ended;
                let data = this.buf.split_to(i).freeze();
                this.buf = BytesMut::new();
                if data.is_empty() {
                    continue;
                }
                return this.give(data);
            }
            // Keep what could be the start of a delimiter split across chunks.
            let safe = this.buf.len().saturating_sub(this.delim.len() - 1);
            if safe > 0 {
                let data = this.buf.split_to(safe).freeze();
                return this.give(data);
            }
            match this.body.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => this.buf.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(e))) => {
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(BodyError::Stream(e))));
                }
                Poll::Ready(None) => {
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(BodyError::Stream(
                        "the form ended inside the file part".into(),
                    ))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(chunks: Vec<Vec<u8>>) -> Body {
        let s = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(c)))),
        );
        Body::http_body_unsync(http_body_util::StreamBody::new(s))
    }

    fn form_bytes(fields: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for (k, val) in fields {
            v.extend_from_slice(
                format!("--XyZ\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{val}\r\n")
                    .as_bytes(),
            );
        }
        v.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\dir\\a b.txt\"\r\nContent-Type: text/plain\r\n\r\n",
        );
        v.extend_from_slice(file);
        v.extend_from_slice(
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"after\"\r\n\r\nx\r\n--XyZ--\r\n",
        );
        v
    }

    async fn run(chunk: usize, file: &[u8], range: (u64, u64)) -> Result<(Form, Vec<u8>), String> {
        let all = form_bytes(
            &[("Key", "k/${filename}"), ("x-amz-meta-a", "1\r\n2")],
            file,
        );
        let chunks = all.chunks(chunk).map(<[u8]>::to_vec).collect();
        let (form, mut stream) = read_form(body_of(chunks), "XyZ")
            .await
            .map_err(|e| e.to_string())?;
        stream.limit(range);
        let mut got = Vec::new();
        while let Some(b) = stream.next().await {
            got.extend_from_slice(&b.map_err(|e| e.to_string())?);
        }
        Ok((form, got))
    }

    #[tokio::test]
    async fn fields_and_file_whatever_the_chunking() {
        // a file full of near-delimiters
        let mut file = Vec::new();
        for i in 0..500u32 {
            file.extend_from_slice(b"\r\n--XyQ\r\n-");
            file.extend_from_slice(&i.to_le_bytes());
        }
        for chunk in [1, 2, 3, 7, 64, 1000, 1 << 20] {
            let (form, got) = run(chunk, &file, (0, u64::MAX)).await.unwrap();
            assert_eq!(got, file, "chunk {chunk}");
            assert_eq!(form.get("key"), Some("k/${filename}"));
            assert_eq!(form.get("x-amz-meta-a"), Some("1\r\n2"));
            assert_eq!(form.get("after"), None);
            assert_eq!(form.filename, "a b.txt");
        }
        let (_, got) = run(5, b"", (0, 10)).await.unwrap();
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn size_range_is_enforced_while_streaming() {
        let file = vec![7u8; 1000];
        let e = run(10, &file, (0, 999)).await.unwrap_err();
        assert!(e.contains("exceeds the maximum"), "{e}");
        let e = run(10, &file, (1001, 5000)).await.unwrap_err();
        assert!(e.contains("smaller than the minimum"), "{e}");
        assert!(run(10, &file, (1000, 1000)).await.is_ok());
    }

    #[tokio::test]
    async fn bad_forms() {
        let no_file =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XyZ--\r\n";
        let e = read_form(body_of(vec![no_file.to_vec()]), "XyZ")
            .await
            .unwrap_err();
        assert!(matches!(e, FormError::NoFile));
        let cut = b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk";
        let e = read_form(body_of(vec![cut.to_vec()]), "XyZ")
            .await
            .unwrap_err();
        assert!(matches!(e, FormError::Malformed));
        let big = form_bytes(&[("policy", &"a".repeat(MAX_PRE_DATA))], b"x");
        let e = read_form(body_of(vec![big]), "XyZ").await.unwrap_err();
        assert!(matches!(e, FormError::PreDataTooLarge));
        let huge = vec![b'a'; 100_000];
        let e = read_form(body_of(vec![huge]), "XyZ").await.unwrap_err();
        assert!(matches!(e, FormError::PreDataTooLarge));
    }

    #[test]
    fn boundaries_and_dispositions() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=----x").as_deref(),
            Some("----x")
        );
        assert_eq!(boundary("application/xml"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        let (n, f) = disposition(
            "Content-Disposition: form-data; name=\"file\"; filename=\"/a/%22q%22.png\"\r\n",
        )
        .unwrap();
        assert_eq!((n.as_str(), f.as_deref()), ("file", Some("%22q%22.png")));
        assert!(disposition("Content-Type: x\r\n").is_none());
    }
}
