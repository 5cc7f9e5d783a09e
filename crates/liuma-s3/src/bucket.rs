//! Bucket operations: list (the caller's own buckets and those its key has
//! a grant on; root: all), create (the creating key's user becomes owner),
//! head, delete (grants revoked), location, versioning, CORS and the
//! canned public-read ACL of CreateBucket (Put/GetBucketAcl are in
//! `access_config`).

use liuma_engine::Versioning;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::access_config::ACL_ATTR;
use crate::auth::Caller;
use crate::conv::ts;
use crate::cors::{self, CORS_ATTR};
use crate::error::s3_err;
use crate::owner::Owners;
use crate::service::LiumaS3;

pub(crate) async fn list_buckets(
    s: &LiumaS3,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let caller = Caller::of(&req);
    let input = req.input;
    let page = crate::listbuckets::Page::of(
        input.max_buckets,
        input.continuation_token.as_deref(),
        input.bucket_region.as_deref(),
        &s.settings.region,
    )?;
    let prefix = input.prefix.clone().unwrap_or_default();
    // The caller's own buckets (root: every bucket), and those the access
    // decision lets it list (a bucket policy or ACL granting ListBucket).
    let mut visible = Vec::new();
    for b in s.engine.list_buckets().await.map_err(s3_err)? {
        if !b.name.starts_with(&prefix) {
            continue;
        }
        let root = caller.user.as_ref().is_some_and(|u| u.root);
        if root
            || caller.owns(&b)
            || caller
                .authorize(&s.engine, "ListObjects", &b, None, None)
                .await
                .is_ok()
        {
            visible.push(b);
        }
    }
    let visible = visible.into_iter();
    let (chosen, next) = page.take(visible, |b| b.name.as_str());
    let buckets = chosen
        .into_iter()
        .map(|b| Bucket {
            bucket_region: Some(s.settings.region.clone()),
            creation_date: Some(ts(b.created_ms)),
            name: Some(b.name),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(match &caller.user {
            Some(u) => crate::owner::of_user(u),
            None => Owners::new(&s.engine).of(caller.id()).await?,
        }),
        continuation_token: next,
        prefix: input.prefix,
    }))
}

pub(crate) async fn create_bucket(
    s: &LiumaS3,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let caller = Caller::of(&req);
    // The access decision refused anonymous CreateBucket already; a
    // bucket always gets an owner.
    let Some(owner) = caller.owner_name() else {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    };
    let input = req.input;
    if let Some(loc) = input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
        && loc.as_str() != s.settings.region
        && !(loc.as_str().is_empty() && s.settings.region == "us-east-1")
    {
        return Err(s3_error!(
            InvalidLocationConstraint,
            "The specified location-constraint is not valid: this endpoint serves {}",
            s.settings.region
        ));
    }
    // Any of the six canned ACLs (bad names: 400 InvalidArgument).
    let canned = input
        .acl
        .as_ref()
        .map(|a| liuma_policy::CannedAcl::parse(a.as_str()))
        .transpose()
        .map_err(|e| s3_error!(InvalidArgument, "{e}"))?;
    let bucket = input.bucket;
    let owned = || {
        // AWS's legacy rule: re-creating a bucket you own answers 200 in
        // us-east-1, 409 BucketAlreadyOwnedByYou in every other region.
        if s.settings.region == "us-east-1" {
            Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{bucket}")),
            }))
        } else {
            Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            ))
        }
    };
    // Another user's bucket (root's too, or root asking for another's):
    // 409 BucketAlreadyExists, as AWS answers across accounts.
    match s.engine.create_bucket(&bucket, &owner).await {
        Ok(_) => {}
        Err(liuma_engine::Error::BucketAlreadyOwnedByYou { .. }) => return owned(),
        Err(e) => return Err(s3_err(e)),
    };
    if let Some(canned) = canned
        && canned != liuma_policy::CannedAcl::Private
    {
        let me = crate::owner::canonical(&s.engine, &owner).await?;
        let acl = canned.to_acl(&me, &me).to_stored();
        s.engine
            .update_bucket(&bucket, |b| {
                b.attrs.insert(ACL_ATTR.to_owned(), acl.clone());
                Ok(())
            })
            .await
            .map_err(s3_err)?;
    }
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{bucket}")),
    }))
}

pub(crate) async fn head_bucket(
    s: &LiumaS3,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    existing(&req, &req.input.bucket)?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(s.settings.region.clone()),
        ..Default::default()
    }))
}

/// The addressed bucket, found by the access check, or NoSuchBucket.
pub(crate) fn existing<T>(req: &S3Request<T>, name: &str) -> S3Result<liuma_engine::BucketInfo> {
    Caller::of(req).bucket.ok_or_else(|| {
        s3_err(liuma_engine::Error::NoSuchBucket {
            bucket: name.to_owned(),
        })
    })
}

pub(crate) async fn delete_bucket(
    s: &LiumaS3,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let bucket = req.input.bucket;
    s.engine.delete_bucket(&bucket).await.map_err(s3_err)?;
    // A bucket created again later under the same name starts without grants.
    for k in s.engine.list_keys().await.map_err(s3_err)? {
        if k.buckets.contains_key(&bucket) {
            s.engine
                .allow_key(&k.id, &bucket, None)
                .await
                .map_err(s3_err)?;
        }
    }
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub(crate) async fn get_bucket_location(
    s: &LiumaS3,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    existing(&req, &req.input.bucket)?;
    // us-east-1 is reported as an empty constraint, as S3 does.
    let loc = (s.settings.region != "us-east-1")
        .then(|| BucketLocationConstraint::from(s.settings.region.clone()));
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint: loc,
    }))
}

pub(crate) async fn get_bucket_versioning(
    _s: &LiumaS3,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let status = match b.versioning {
        Versioning::Off => None,
        Versioning::Enabled => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::ENABLED,
        )),
        Versioning::Suspended => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::SUSPENDED,
        )),
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        status,
        mfa_delete: None,
    }))
}

pub(crate) async fn put_bucket_versioning(
    s: &LiumaS3,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let input = req.input;
    let state = match input
        .versioning_configuration
        .status
        .as_ref()
        .map(|v| v.as_str())
    {
        Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "Status must be Enabled or Suspended"
            ));
        }
    };
    s.engine
        .set_versioning(&input.bucket, state)
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(PutBucketVersioningOutput {}))
}

pub(crate) async fn get_bucket_cors(
    _s: &LiumaS3,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let rules = cors::rules(&b.attrs);
    if rules.is_empty() {
        return Err(s3_error!(
            NoSuchCORSConfiguration,
            "The CORS configuration does not exist"
        ));
    }
    Ok(S3Response::new(GetBucketCorsOutput {
        cors_rules: Some(rules.into_iter().map(CORSRule::from).collect()),
    }))
}

/// Largest CORS configuration, in bytes (AWS: "limited to 64 KB").
const MAX_CORS_BYTES: usize = 64 << 10;

pub(crate) async fn put_bucket_cors(
    s: &LiumaS3,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let too_large = || {
        s3_error!(
            MalformedXML,
            "The CORS configuration is limited to {MAX_CORS_BYTES} bytes"
        )
    };
    // The XML document is what AWS limits; the stored form is checked too,
    // for bodies sent without a length.
    let sent = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if sent.is_some_and(|n| n > MAX_CORS_BYTES) {
        return Err(too_large());
    }
    let input = req.input;
    let rules: Vec<cors::Rule> = input
        .cors_configuration
        .cors_rules
        .into_iter()
        .map(cors::Rule::from)
        .collect();
    cors::validate(&rules).map_err(|m| s3_error!(MalformedXML, "{m}"))?;
    let value = cors::store(&rules);
    if value.len() > MAX_CORS_BYTES {
        return Err(too_large());
    }
    s.engine
        .update_bucket(&input.bucket, |b| {
            b.attrs.insert(CORS_ATTR.to_owned(), value.clone());
            Ok(())
        })
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(PutBucketCorsOutput {}))
}

pub(crate) async fn delete_bucket_cors(
    s: &LiumaS3,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    s.engine
        .update_bucket(&req.input.bucket, |b| {
            b.attrs.remove(CORS_ATTR);
            Ok(())
        })
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(DeleteBucketCorsOutput {}))
}
