//! The one access decision of the S3 API (issue #15).
//!
//! Every S3 request passes through [`Decider::decide`] from the s3s access
//! hook (`auth::KeyAccess`) before its operation runs. The parts of a
//! request that are only known inside its operation — each key of a
//! DeleteObjects, the source of a copy, the buckets a ListBuckets may show —
//! are decided by the same function through [`Caller::authorize`], never
//! by a check of the operation's own. The decision itself is
//! [`liuma_policy::authorize`]; this module gathers its inputs: the user
//! behind the key, the bucket's owner, policies, ACLs, PublicAccessBlock
//! and ObjectOwnership (bucket attrs), the object's ACL when only an ACL
//! can still allow the request, and the condition context (source address,
//! TLS, time, `s3:prefix`, `s3:max-keys`, `s3:x-amz-acl`...).
//!
//! Policies are parsed when a request first needs them (they were
//! validated when stored) and then served from `policy_cache`, keyed by
//! their text; a stored policy that no longer parses denies rather than
//! allows (logged).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use liuma_engine::{BucketInfo, Engine, User};
use liuma_policy::{
    Acl, CanonicalUser, Context, Inputs, ObjectOwnership, Operation, Policy, Principal,
    PublicAccessBlock, Request, Verdict,
};
use s3s::{S3Result, s3_error};

use crate::access_config::{self, POLICY_ATTR};
use crate::auth::Caller;
use crate::error::s3_err;

/// The connection a request came on, put in the request's extensions by
/// the listener: `aws:SourceIp` and `aws:SecureTransport`.
#[derive(Clone, Copy, Debug)]
pub struct ClientConn {
    /// The peer's address.
    pub addr: SocketAddr,
    /// The request came over TLS.
    pub tls: bool,
}

/// What the decision knows about the request beyond caller and resource.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestFacts {
    /// Condition context shared by every decision of the request.
    pub context: Context,
}

impl RequestFacts {
    /// Facts from the request line and headers.
    pub(crate) fn new(
        conn: Option<ClientConn>,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        user: Option<&User>,
        now_ms: u64,
    ) -> RequestFacts {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut put = |k: &str, v: String| values.entry(k.to_owned()).or_default().push(v);
        for (name, value) in url_query(uri) {
            let key = match name.as_str() {
                "prefix" => "s3:prefix",
                "max-keys" => "s3:max-keys",
                "delimiter" => "s3:delimiter",
                "versionId" => "s3:versionid",
                _ => continue,
            };
            put(key, value);
        }
        for (header, key) in [
            ("x-amz-acl", "s3:x-amz-acl"),
            ("x-amz-copy-source", "s3:x-amz-copy-source"),
            ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
            (
                "x-amz-server-side-encryption",
                "s3:x-amz-server-side-encryption",
            ),
            ("x-amz-storage-class", "s3:x-amz-storage-class"),
            ("x-amz-content-sha256", "s3:x-amz-content-sha256"),
            ("x-amz-grant-read", "s3:x-amz-grant-read"),
            ("x-amz-grant-write", "s3:x-amz-grant-write"),
            ("x-amz-grant-read-acp", "s3:x-amz-grant-read-acp"),
            ("x-amz-grant-write-acp", "s3:x-amz-grant-write-acp"),
            ("x-amz-grant-full-control", "s3:x-amz-grant-full-control"),
            ("referer", "aws:referer"),
            ("user-agent", "aws:useragent"),
        ] {
            if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
                put(key, v.to_owned());
            }
        }
        let auth_type = if headers.contains_key(http::header::AUTHORIZATION) {
            Some("REST-HEADER")
        } else if uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature=") || q.contains("Signature="))
        {
            Some("REST-QUERY-STRING")
        } else {
            None
        };
        if let Some(t) = auth_type {
            put("s3:authtype", t.to_owned());
        }
        if let Some(u) = user {
            put("aws:username", u.name.clone());
            put("aws:userid", u.canonical_id.clone());
        }
        RequestFacts {
            context: Context {
                source_ip: conn.map(|c| c.addr.ip()),
                secure_transport: conn.is_some_and(|c| c.tls),
                current_time_ms: now_ms,
                values,
            },
        }
    }
}

/// The decoded `name=value` pairs of a query string.
fn url_query(uri: &http::Uri) -> Vec<(String, String)> {
    let Some(q) = uri.query() else {
        return Vec::new();
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// One resource a decision is about.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    /// The bucket record (None: no bucket, or it does not exist yet).
    pub bucket: Option<&'a BucketInfo>,
    /// The object key, for object operations.
    pub key: Option<&'a str>,
    /// The `versionId` the request names.
    pub version_id: Option<&'a str>,
}

/// Gathers the decision's inputs from the metadata store.
pub(crate) struct Decider<'a> {
    pub engine: &'a Engine,
}

impl Decider<'_> {
    /// Decide whether `user` (None: anonymous) may run `op` on `target`.
    /// `Ok(())` lets it run; a refusal is 403 AccessDenied (the reason is
    /// logged at debug level, never told to the client, as AWS does).
    pub(crate) async fn decide(
        &self,
        user: Option<&User>,
        facts: &RequestFacts,
        op_name: &str,
        target: Target<'_>,
    ) -> S3Result<()> {
        let Some(op) = liuma_policy::operation(op_name) else {
            // An operation without a table entry: only root may try it
            // (its handler answers NotImplemented or does the work).
            return if user.is_some_and(|u| u.root) {
                Ok(())
            } else {
                Err(denied(op_name, "operation not in the access table"))
            };
        };
        match self.verdict(user, facts, op, target).await? {
            Verdict::Allow => Ok(()),
            Verdict::Deny { reason } => Err(denied(op_name, reason)),
        }
    }

    async fn verdict(
        &self,
        user: Option<&User>,
        facts: &RequestFacts,
        op: Operation,
        target: Target<'_>,
    ) -> S3Result<Verdict> {
        if user.is_some_and(|u| u.root) {
            return Ok(Verdict::Allow);
        }
        let principal = match user {
            Some(u) => Principal::User {
                name: &u.name,
                canonical_id: &u.canonical_id,
            },
            None => Principal::Anonymous,
        };
        let identity: Arc<Vec<Policy>> = match user {
            Some(u) if !u.policies.is_empty() => {
                crate::policy_cache::identity_policies(u.policies.iter(), |name, e| {
                    stored_policy_error(&format!("user {} policy {name}", u.name), e)
                })
            }
            _ => Arc::default(),
        };
        let resource = match (target.bucket, target.key) {
            (Some(b), Some(k)) if op.on_object => format!("arn:aws:s3:::{}/{k}", b.name),
            (Some(b), _) => format!("arn:aws:s3:::{}", b.name),
            (None, _) => "*".to_owned(),
        };
        let request = Request {
            principal,
            action: op.action_for(target.version_id.is_some()),
            resource: &resource,
            context: &facts.context,
        };
        let Some(bucket) = target.bucket else {
            let inputs = Inputs {
                principal,
                is_root: false,
                bucket_owner: None,
                identity_policies: identity.as_slice(),
                bucket_policy: None,
                bucket_acl: None,
                object_acl: None,
                public_access_block: PublicAccessBlock::default(),
                ownership: ObjectOwnership::ObjectWriter,
            };
            // No bucket: ListBuckets and CreateBucket, which every user may
            // run unless an identity policy denies it; anonymous may not.
            return Ok(
                match (user, liuma_policy::authorize(&inputs, &request, None)) {
                    (None, _) => Verdict::Deny {
                        reason: "anonymous request without a bucket",
                    },
                    (Some(_), v) if v.is_explicit_deny() => v,
                    (Some(_), _) => Verdict::Allow,
                },
            );
        };
        let owner = self.canonical(&bucket.owner).await?;
        let bucket_policy = bucket.attrs.get(POLICY_ATTR).and_then(|text| {
            crate::policy_cache::bucket_policy(&bucket.name, text, |e| {
                stored_policy_error(&format!("bucket {} policy", bucket.name), e)
            })
        });
        let bucket_acl = access_config::bucket_acl(bucket, &owner);
        let pab = access_config::public_access_block(bucket).unwrap_or_default();
        let ownership = access_config::ownership(bucket).unwrap_or_default();
        let mut inputs = Inputs {
            principal,
            is_root: false,
            bucket_owner: Some(&owner.id),
            identity_policies: identity.as_slice(),
            bucket_policy: bucket_policy.as_deref(),
            bucket_acl: Some(&bucket_acl),
            object_acl: None,
            public_access_block: pab,
            ownership,
        };
        let verdict = liuma_policy::authorize(&inputs, &request, op.acl);
        if !pab.ignore_public_acls && legacy_public_read(bucket, &verdict, request.action) {
            return Ok(Verdict::Allow);
        }
        // Only an object's ACL can still allow it: read that ACL (one
        // metadata read, for requests no owner or policy allowed).
        let object_acl_may_help = matches!(verdict, Verdict::Deny { .. })
            && !verdict.is_explicit_deny()
            && op.acl.is_some_and(|need| need.on_object)
            && ownership.acls_enabled();
        let (Some(key), true) = (target.key, object_acl_may_help) else {
            return Ok(verdict);
        };
        let info = match self
            .engine
            .head_object(&bucket.name, key, target.version_id)
            .await
        {
            Ok(info) => info,
            // No such object (or a marker): nothing an ACL could grant;
            // the refusal stands (AWS answers 403 too when the caller may
            // not list the bucket).
            Err(
                liuma_engine::Error::NoSuchKey { .. } | liuma_engine::Error::NoSuchVersion { .. },
            ) => {
                return Ok(verdict);
            }
            Err(e) => return Err(s3_err(e)),
        };
        let object_owner = if info.owner.is_empty() {
            owner.clone()
        } else {
            self.canonical(&info.owner).await?
        };
        let object_acl = info
            .acl
            .as_deref()
            .map(|s| stored_acl(s, &object_owner))
            .unwrap_or_else(|| Acl::private(&object_owner));
        inputs.object_acl = Some(&object_acl);
        Ok(liuma_policy::authorize(&inputs, &request, op.acl))
    }

    async fn canonical(&self, name: &str) -> S3Result<CanonicalUser> {
        crate::owner::canonical(self.engine, name).await
    }
}

/// A bucket made public-read before ACLs and policies existed (its attr is
/// the bare string `public-read`, which nothing writes any more) keeps the
/// meaning it had then: anyone may read its objects, not only list them
/// (AWS's public-read bucket ACL grants only the listing). Setting the
/// bucket's ACL again ends this. An explicit Deny still wins.
fn legacy_public_read(bucket: &BucketInfo, verdict: &Verdict, action: &str) -> bool {
    matches!(verdict, Verdict::Deny { .. })
        && !verdict.is_explicit_deny()
        && action == "s3:GetObject"
        && bucket
            .attrs
            .get(access_config::ACL_ATTR)
            .map(String::as_str)
            == Some("public-read")
}

/// A stored policy that no longer parses counts as absent for allows and
/// is logged (it was validated when stored, so this means a newer liuma
/// reads an older record differently). Parsed policies are cached by
/// their text (`policy_cache`), so this is logged once per text.
fn stored_policy_error(what: &str, e: &liuma_policy::PolicyError) {
    tracing::error!(%what, error = %e, "stored policy does not parse; it allows nothing");
}

/// A stored ACL; one that does not parse is private to the owner.
pub(crate) fn stored_acl(text: &str, owner: &CanonicalUser) -> Acl {
    Acl::parse_stored(text, owner).unwrap_or_else(|e| {
        tracing::error!(error = %e, "stored ACL does not parse; treated as private");
        Acl::private(owner)
    })
}

fn denied(op: &str, reason: &str) -> s3s::S3Error {
    tracing::debug!(op, reason, "access denied");
    s3_error!(AccessDenied, "Access Denied")
}

/// What a request's later decisions need, kept in its [`Caller`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Grounds {
    /// The request's facts.
    pub facts: Arc<RequestFacts>,
}

impl Caller {
    /// Decide a part of this request found inside its operation (a key of
    /// DeleteObjects, a copy source, a bucket to list) with the same
    /// function as the request itself.
    pub(crate) async fn authorize(
        &self,
        engine: &Engine,
        op: &str,
        bucket: &BucketInfo,
        key: Option<&str>,
        version_id: Option<&str>,
    ) -> S3Result<()> {
        Decider { engine }
            .decide(
                self.user.as_ref(),
                &self.grounds.facts,
                op,
                Target {
                    bucket: Some(bucket),
                    key,
                    version_id,
                },
            )
            .await
    }
}
