//! # liuma-s3 — the S3 API front end (layer 6)
//!
//! Serves the object engine over the S3 REST API. Routing, XML, SigV4
//! (headers, presigned URLs, aws-chunked payloads) come from the `s3s`
//! crate; this crate implements its [`s3s::S3`] trait over
//! [`liuma_engine::Engine`], looks access keys up in the metadata store
//! ([`s3s::auth::S3Auth`]), authorizes each request against the key's
//! bucket grants ([`s3s::access::S3Access`]) and adds what s3s leaves to
//! its user: CORS (preflight and response headers), header and body size
//! limits, virtual-hosted-style host parsing. It depends only on the
//! engine and s3s.
//!
//! # Layout
//! - [`service`]: [`S3Settings`] and [`build`], the HTTP service a listener serves
//! - `front`: the layer in front of s3s (CORS, limits, error rendering)
//! - `chunked`: PUTs with chunked transfer coding and no length
//! - `auth`: key lookup, per-operation authorization, the caller
//! - `sigcheck`: SigV2 gate and the 7-day cap on presigned URLs
//! - `sse`: server-side encryption headers (SSE-S3, SSE-C) and bucket default encryption
//! - `bucket`, `object`, `list`, `multipart`: the operations
//! - `post`: POST Object (browser uploads), served in front of s3s;
//!   `form` streams its multipart/form-data, `postpolicy` checks its policy
//! - `listbuckets`: ListBuckets pagination (max-buckets, continuation token)
//! - `cond`: conditional-write headers and `partNumber` of reads
//! - `cors`: bucket CORS rules as stored and matched
//! - `access_config`: bucket policy, bucket ACL, OwnershipControls and
//!   PublicAccessBlock as stored and validated (with `liuma-policy`)
//! - `lifecycle`: bucket lifecycle configuration (validated as AWS does)
//! - `checksum`: x-amz-checksum-* (which algorithm, trailers, multipart
//!   types), GetObjectAttributes
//! - `tagging`: object and bucket tags (AWS's limits checked here)
//! - `marker`: reads that hit a delete marker (404/405 with its headers)
//! - `body`: streaming adapters (request bodies with checksum checks, object streams)
//! - `conv`: DTO conversions (metadata, timestamps, ETags, URL encoding)
//! - `error`: engine errors → S3 errors, in one place
//! - `errbody`: request ids; every error body completed (message, resource, request id)

mod access_config;
mod auth;
mod authz;
mod body;
mod bucket;
mod checksum;
mod chunked;
mod cond;
mod conv;
mod cors;
mod errbody;
mod error;
mod form;
mod front;
mod lifecycle;
mod list;
mod listbuckets;
mod marker;
mod multipart;
mod object;
mod object_acl;
mod owner;
mod payload_hash;
mod policy_cache;
mod post;
mod postpolicy;
pub mod service;
mod sigcheck;
mod sse;
mod tagging;

pub use authz::ClientConn;
pub use front::S3Front;
pub use service::{S3Settings, build};
pub use sigcheck::MAX_PRESIGNED_SECS;
