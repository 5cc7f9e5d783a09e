//! Request bodies as engine streams: either a `multipart/form-data` form
//! whose field `file` is streamed (never buffered whole; other fields are
//! skipped), or a raw body. A size limit cuts the stream short; the form is
//! parsed to its end before the stream ends, so malformed trailing form data
//! fails the upload instead of storing it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use bytes::Bytes;
use futures_util::StreamExt;
use liuma_engine::ByteStream;
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, Result};

/// An upload body being received.
pub struct Incoming {
    /// File name from the form field (`filename=`), if any.
    pub file_name: Option<String>,
    /// Content type of the form field or the raw body.
    pub content_type: Option<String>,
    /// Set when the limit cut the body short.
    pub too_large: Arc<AtomicBool>,
    /// The form reader, when the body is a form.
    form: Option<tokio::task::JoinHandle<Result<()>>>,
    limit: u64,
}

impl Incoming {
    /// Turn an engine error caused by the body into the API error it means,
    /// and surface a form parsing error the engine only saw as a cut body.
    pub async fn explain(self, e: liuma_engine::Error) -> ApiError {
        if self.too_large.load(Ordering::Relaxed) {
            return ApiError::TooLarge { max: self.limit };
        }
        if let Some(form) = self.form
            && matches!(e, liuma_engine::Error::Body(_))
            && let Ok(Err(form_err)) = form.await
        {
            return form_err;
        }
        e.into()
    }

    /// After the engine consumed the body: a form error it could not see.
    pub async fn finish(self) -> Result<()> {
        if let Some(form) = self.form {
            form.await
                .map_err(|e| ApiError::Engine(liuma_engine::Error::Internal(Box::new(e))))??;
        }
        Ok(())
    }
}

/// Read the request's upload body: form field `file`, or the raw body.
pub async fn incoming(req: Request, limit: u64) -> Result<(Incoming, ByteStream)> {
    let too_large = Arc::new(AtomicBool::new(false));
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = ct
        .as_deref()
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_form {
        let stream = req
            .into_body()
            .into_data_stream()
            .map(|r| r.map_err(std::io::Error::other));
        let body = limited(Box::pin(stream), limit, too_large.clone());
        let inc = Incoming {
            file_name: None,
            content_type: ct,
            too_large,
            form: None,
            limit,
        };
        return Ok((inc, body));
    }
    let multipart =
        Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::MalformedForm {
                detail: e.body_text(),
            })?;
    let (meta_tx, meta_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let form = tokio::spawn(read_form(multipart, meta_tx, tx));
    let Ok((file_name, content_type)) = meta_rx.await else {
        // The reader ended before finding the file field: its error says why.
        return Err(match form.await {
            Ok(Err(e)) => e,
            _ => ApiError::MissingFile,
        });
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let body = limited(Box::pin(stream), limit, too_large.clone());
    let inc = Incoming {
        file_name,
        content_type,
        too_large,
        form: Some(form),
        limit,
    };
    Ok((inc, body))
}

type FieldMeta = (Option<String>, Option<String>);

/// Find field `file`, report its name and type, pump its bytes, then parse
/// the rest of the form; any parse error also reaches the byte stream.
async fn read_form(
    mut form: Multipart,
    meta_tx: oneshot::Sender<FieldMeta>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<()> {
    let malformed = |e: axum::extract::multipart::MultipartError| ApiError::MalformedForm {
        detail: e.body_text(),
    };
    let mut meta_tx = Some(meta_tx);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other("malformed form"))).await;
                return Err(malformed(e));
            }
        };
        let is_file = field.name() == Some("file") && meta_tx.is_some();
        if is_file {
            let meta = (
                field.file_name().map(str::to_owned),
                field.content_type().map(str::to_owned),
            );
            if let Some(m) = meta_tx.take() {
                let _ = m.send(meta);
            }
        }
        let mut field = field;
        loop {
            match field.chunk().await {
                Ok(Some(b)) if is_file => {
                    if tx.send(Ok(b)).await.is_err() {
                        return Ok(()); // the engine stopped reading (it has an error)
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other("malformed form"))).await;
                    return Err(malformed(e));
                }
            }
        }
    }
    if meta_tx.is_some() {
        return Err(ApiError::MissingFile);
    }
    Ok(())
}

/// Cut `body` after `limit` bytes with an error, and flag it.
fn limited(body: ByteStream, limit: u64, flag: Arc<AtomicBool>) -> ByteStream {
    let mut seen = 0u64;
    Box::pin(body.map(move |item| {
        let b = item?;
        seen += b.len() as u64;
        if seen > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("body exceeds the size limit"));
        }
        Ok(b)
    }))
}
