//! Object ACLs: Put/GetObjectAcl, and the ACL (canned `x-amz-acl` or
//! `x-amz-grant-*` headers) and owner a new object gets from PutObject,
//! CopyObject and CreateMultipartUpload. An ACL is stored with its object
//! version (JSON of `liuma_policy::Acl`, none = private to the object's
//! owner); the access decision (`authz`) reads it. The request forms and
//! the bucket's ownership / PublicAccessBlock rules are the bucket ACL's
//! (`access_config`), validated before anything is written.

use liuma_engine::{BucketInfo, ObjectInfo};
use liuma_policy::{CannedAcl, CanonicalUser, ObjectOwnership};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::access_config::{AclRequest, acl_dto, acl_request, admit_acl, ownership, stored_acl};
use crate::bucket::existing;
use crate::error::s3_err;
use crate::owner::{canonical, object_owner};
use crate::service::LiumaS3;

/// The ACL request of an object write's headers (PutObject, CopyObject,
/// CreateMultipartUpload: no WRITE grant, no body — the body is the object).
macro_rules! object_acl_request {
    ($input:expr) => {
        $crate::access_config::acl_request!(
            $input,
            s3s::dto::ObjectCannedACL,
            write: None,
            body: None
        )
    };
}
pub(crate) use object_acl_request;

/// Owner (user name) and stored ACL of an object written to bucket `b` by
/// user `writer` asking for `request`. The bucket owner owns the object
/// under BucketOwnerEnforced, and under BucketOwnerPreferred when the
/// writer grants it `bucket-owner-full-control` (AWS); the writer otherwise.
/// Refused ACLs are errors, returned before the write starts.
pub(crate) async fn for_new_object(
    s: &LiumaS3,
    b: &BucketInfo,
    writer: String,
    request: &AclRequest<'_>,
) -> S3Result<(String, Option<String>)> {
    let full_control = Some(CannedAcl::BucketOwnerFullControl.as_str());
    let owner = match ownership(b).unwrap_or_default() {
        ObjectOwnership::BucketOwnerEnforced => b.owner.clone(),
        ObjectOwnership::BucketOwnerPreferred if request.canned == full_control => b.owner.clone(),
        _ => writer,
    };
    if request.is_empty() {
        return Ok((owner, None));
    }
    let bucket_owner = canonical(&s.engine, &b.owner).await?;
    let object_owner = if owner.is_empty() || owner == b.owner {
        bucket_owner.clone()
    } else {
        canonical(&s.engine, &owner).await?
    };
    let Some(acl) = request.acl(&object_owner, &bucket_owner)? else {
        return Ok((owner, None));
    };
    admit_acl(s, b, &acl, &object_owner).await?;
    Ok((owner, stored_acl(&acl, &object_owner)))
}

/// A version (the current one without `version`) and its owner.
async fn version_owner(
    s: &LiumaS3,
    b: &BucketInfo,
    key: &str,
    version: Option<&str>,
) -> S3Result<(ObjectInfo, CanonicalUser)> {
    let info = s
        .engine
        .head_object(&b.name, key, version)
        .await
        .map_err(s3_err)?;
    let owner = canonical(&s.engine, object_owner(&info, b)).await?;
    Ok((info, owner))
}

pub(crate) async fn put_object_acl(
    s: &LiumaS3,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = &req.input;
    let version = input.version_id.as_deref();
    let (_, owner) = version_owner(s, &b, &input.key, version).await?;
    let bucket_owner = canonical(&s.engine, &b.owner).await?;
    let request = acl_request!(
        input,
        ObjectCannedACL,
        write: input.grant_write.as_deref(),
        body: input.access_control_policy.as_ref()
    );
    let acl = request.required_acl(&owner, &bucket_owner)?;
    admit_acl(s, &b, &acl, &owner).await?;
    s.engine
        .set_object_acl(&b.name, &input.key, version, stored_acl(&acl, &owner))
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}

pub(crate) async fn get_object_acl(
    s: &LiumaS3,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = &req.input;
    let (info, owner) = version_owner(s, &b, &input.key, input.version_id.as_deref()).await?;
    let acl = info
        .acl
        .as_deref()
        .map(|text| crate::authz::stored_acl(text, &owner))
        .unwrap_or_else(|| liuma_policy::Acl::private(&owner));
    let (owner, grants) = acl_dto(&acl);
    Ok(S3Response::new(GetObjectAclOutput {
        grants: Some(grants),
        owner: Some(owner),
        ..Default::default()
    }))
}
