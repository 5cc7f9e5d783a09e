//! Bucket access settings as S3 operations that store and validate them
//! (the access decision itself is `liuma_policy::authorize`, called from
//! the auth choke point): bucket policy (+ status), bucket ACL,
//! OwnershipControls and PublicAccessBlock. Each lives in one bucket attr:
//! `policy` (the JSON as sent), `acl` (JSON of `liuma_policy::Acl`, or the
//! legacy `public-read`), `ownership`, `public-access-block` (JSON).
//! Validation happens before anything is written: a refused request
//! leaves the bucket unchanged.

use liuma_engine::BucketInfo;
use liuma_policy::{
    Acl, AclPermission, CannedAcl, CanonicalUser, Grant as PGrant, Grantee as PGrantee,
    ObjectOwnership, Policy, PolicyError, PolicyKind, PublicAccessBlock,
};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::bucket::existing;
use crate::error::s3_err;
use crate::service::LiumaS3;

/// Bucket attr: the bucket ACL (JSON of `liuma_policy::Acl`; legacy `public-read`).
pub(crate) const ACL_ATTR: &str = "acl";
/// Bucket attr: the bucket policy JSON, as sent.
pub(crate) const POLICY_ATTR: &str = "policy";
/// Bucket attr: the ObjectOwnership setting (its S3 name).
pub(crate) const OWNERSHIP_ATTR: &str = "ownership";
/// Bucket attr: the PublicAccessBlock configuration (JSON).
pub(crate) const PAB_ATTR: &str = "public-access-block";

/// The Owner of a bucket as S3 shows it: its owning user's canonical id
/// and name.
pub(crate) async fn owner_of(s: &LiumaS3, b: &BucketInfo) -> S3Result<CanonicalUser> {
    crate::owner::canonical(&s.engine, &b.owner).await
}

/// A refused policy or ACL → its S3 error (MalformedPolicy or
/// InvalidArgument, with the reason as message).
fn policy_err(e: &PolicyError) -> S3Error {
    let code = match e.s3_code() {
        "MalformedPolicy" => S3ErrorCode::MalformedPolicy,
        _ => S3ErrorCode::InvalidArgument,
    };
    S3Error::with_message(code, e.to_string())
}

/// The bucket's PublicAccessBlock, if set.
pub(crate) fn public_access_block(b: &BucketInfo) -> Option<PublicAccessBlock> {
    b.attrs
        .get(PAB_ATTR)
        .map(|s| PublicAccessBlock::parse_stored(s))
}

/// The bucket's ObjectOwnership, if set (an unreadable value counts as
/// BucketOwnerEnforced: ACLs off is the closed side).
pub(crate) fn ownership(b: &BucketInfo) -> Option<ObjectOwnership> {
    b.attrs
        .get(OWNERSHIP_ATTR)
        .map(|s| ObjectOwnership::parse(s).unwrap_or(ObjectOwnership::BucketOwnerEnforced))
}

/// The bucket's ACL (private to the owner when none is stored).
pub(crate) fn bucket_acl(b: &BucketInfo, owner: &CanonicalUser) -> Acl {
    let owner = owner.clone();
    b.attrs
        .get(ACL_ATTR)
        .and_then(|s| Acl::parse_stored(s, &owner).ok())
        .unwrap_or_else(|| Acl::private(&owner))
}

/// The attr value that stores `acl`: none for the private ACL (absent is
/// private), JSON otherwise. (The bare string `public-read` is only ever
/// read: buckets made public-read before ACLs existed, see `authz`.)
pub(crate) fn stored_acl(acl: &Acl, owner: &CanonicalUser) -> Option<String> {
    if *acl == Acl::private(owner) {
        None
    } else {
        Some(acl.to_stored())
    }
}

/// Set or remove one attr (compare-and-swap in the engine).
async fn set_attr(s: &LiumaS3, bucket: &str, name: &str, value: Option<String>) -> S3Result<()> {
    s.engine
        .update_bucket(bucket, |b| {
            match &value {
                Some(v) => b.attrs.insert(name.to_owned(), v.clone()),
                None => b.attrs.remove(name),
            };
            Ok(())
        })
        .await
        .map_err(s3_err)?;
    Ok(())
}

fn access_denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

// ---- bucket policy ----

pub(crate) async fn put_bucket_policy(
    s: &LiumaS3,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let text = req.input.policy;
    let policy =
        Policy::parse(&text, PolicyKind::Bucket { bucket: &b.name }).map_err(|e| policy_err(&e))?;
    // BlockPublicPolicy: a public policy is refused with 403, as on AWS.
    if policy.is_public() && public_access_block(&b).is_some_and(|p| p.block_public_policy) {
        return Err(access_denied());
    }
    set_attr(s, &b.name, POLICY_ATTR, Some(text)).await?;
    Ok(S3Response::new(PutBucketPolicyOutput {}))
}

fn no_policy() -> S3Error {
    s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")
}

pub(crate) async fn get_bucket_policy(
    _s: &LiumaS3,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let policy = b.attrs.get(POLICY_ATTR).cloned().ok_or_else(no_policy)?;
    Ok(S3Response::new(GetBucketPolicyOutput {
        policy: Some(policy),
    }))
}

pub(crate) async fn delete_bucket_policy(
    s: &LiumaS3,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    set_attr(s, &b.name, POLICY_ATTR, None).await?;
    Ok(S3Response::new(DeleteBucketPolicyOutput {}))
}

/// The parsed bucket policy, if one is stored (a stored policy always
/// parsed when it was put; one that no longer does counts as none).
pub(crate) fn bucket_policy(b: &BucketInfo) -> Option<Policy> {
    let text = b.attrs.get(POLICY_ATTR)?;
    Policy::parse(text, PolicyKind::Bucket { bucket: &b.name }).ok()
}

pub(crate) async fn get_bucket_policy_status(
    _s: &LiumaS3,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    // AWS answers NoSuchBucketPolicy when there is no policy.
    let policy = bucket_policy(&b).ok_or_else(no_policy)?;
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(policy.is_public()),
        }),
    }))
}

// ---- ownership controls ----

pub(crate) async fn put_bucket_ownership_controls(
    s: &LiumaS3,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let rules = &req.input.ownership_controls.rules;
    let [rule] = rules.as_slice() else {
        return Err(s3_error!(
            MalformedXML,
            "OwnershipControls must hold exactly one Rule"
        ));
    };
    let o = ObjectOwnership::parse(rule.object_ownership.as_str())
        .map_err(|e| S3Error::with_message(S3ErrorCode::MalformedXML, e.to_string()))?;
    // AWS refuses BucketOwnerEnforced while the bucket ACL grants anything
    // beyond the owner's full control.
    if o == ObjectOwnership::BucketOwnerEnforced
        && !owner_only(
            &bucket_acl(&b, &owner_of(s, &b).await?),
            &owner_of(s, &b).await?,
        )
    {
        return Err(s3_error!(
            InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
        ));
    }
    set_attr(s, &b.name, OWNERSHIP_ATTR, Some(o.as_str().to_owned())).await?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
}

pub(crate) async fn get_bucket_ownership_controls(
    _s: &LiumaS3,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let o = ownership(&b).ok_or_else(|| {
        s3_error!(
            OwnershipControlsNotFoundError,
            "The bucket ownership controls were not found"
        )
    })?;
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: s3s::dto::ObjectOwnership::from(o.as_str().to_owned()),
            }],
        }),
    }))
}

pub(crate) async fn delete_bucket_ownership_controls(
    s: &LiumaS3,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    set_attr(s, &b.name, OWNERSHIP_ATTR, None).await?;
    Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
}

// ---- public access block ----

pub(crate) async fn put_public_access_block(
    s: &LiumaS3,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let c = &req.input.public_access_block_configuration;
    let pab = PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    set_attr(s, &b.name, PAB_ATTR, Some(pab.to_stored())).await?;
    Ok(S3Response::new(PutPublicAccessBlockOutput {}))
}

pub(crate) async fn get_public_access_block(
    _s: &LiumaS3,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let Some(p) = public_access_block(&b) else {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
            "The public access block configuration was not found",
        );
        e.set_status_code(http::StatusCode::NOT_FOUND);
        return Err(e);
    };
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(p.block_public_acls),
            ignore_public_acls: Some(p.ignore_public_acls),
            block_public_policy: Some(p.block_public_policy),
            restrict_public_buckets: Some(p.restrict_public_buckets),
        }),
    }))
}

pub(crate) async fn delete_public_access_block(
    s: &LiumaS3,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    set_attr(s, &b.name, PAB_ATTR, None).await?;
    Ok(S3Response::new(DeletePublicAccessBlockOutput {}))
}

// ---- bucket ACL ----

/// Does the ACL grant only the owner's full control (what an ACL may
/// still say under BucketOwnerEnforced)?
fn owner_only(acl: &Acl, owner: &CanonicalUser) -> bool {
    acl.grants.iter().all(|g| {
        g.permission == AclPermission::FullControl
            && matches!(&g.grantee, PGrantee::User { id, .. } if *id == owner.id)
    })
}

/// The ACL of an XML AccessControlPolicy body.
fn acl_from_body(owner: &CanonicalUser, body: &AccessControlPolicy) -> Result<Acl, PolicyError> {
    let mut grants = Vec::new();
    for g in body.grants.iter().flatten() {
        let (Some(grantee), Some(perm)) = (&g.grantee, &g.permission) else {
            return Err(PolicyError::InvalidGrant(
                "Grant without Grantee or Permission".into(),
            ));
        };
        let permission = AclPermission::parse(perm.as_str())
            .ok_or_else(|| PolicyError::InvalidGrant(perm.as_str().to_owned()))?;
        let grantee = match grantee.type_.as_str() {
            Type::CANONICAL_USER => {
                let id = grantee.id.as_deref().unwrap_or_default();
                PGrantee::user(id, grantee.display_name.clone())?
            }
            Type::GROUP => PGrantee::from_uri(grantee.uri.as_deref().unwrap_or_default())?,
            Type::AMAZON_CUSTOMER_BY_EMAIL => {
                return Err(PolicyError::EmailGrantee(
                    grantee.email_address.clone().unwrap_or_default(),
                ));
            }
            other => return Err(PolicyError::InvalidGrant(other.to_owned())),
        };
        grants.push(PGrant {
            grantee,
            permission,
        });
    }
    Ok(Acl {
        owner: owner.clone(),
        grants,
    })
}

/// The [`AclRequest`] of an S3 input with `acl` (of canned type `$canned`)
/// and the `grant_*` fields (`write` and `body` given apart: object writes
/// have neither).
macro_rules! acl_request {
    ($input:expr, $canned:ty, write: $write:expr, body: $body:expr) => {{
        use liuma_policy::AclPermission as P;
        let input = &$input;
        $crate::access_config::AclRequest {
            canned: input.acl.as_ref().map(<$canned>::as_str),
            grants: $crate::access_config::AclRequest::grant_headers([
                (P::FullControl, input.grant_full_control.as_deref()),
                (P::Read, input.grant_read.as_deref()),
                (P::ReadAcp, input.grant_read_acp.as_deref()),
                (P::Write, $write),
                (P::WriteAcp, input.grant_write_acp.as_deref()),
            ]),
            body: $body,
        }
    }};
}
pub(crate) use acl_request;

/// What a request asks an ACL to be: a canned ACL (`x-amz-acl`), grant
/// headers (`x-amz-grant-*`) or an AccessControlPolicy body. Shared by
/// the bucket and object ACL operations and the object writes.
#[derive(Default)]
pub(crate) struct AclRequest<'a> {
    pub canned: Option<&'a str>,
    pub grants: Vec<(AclPermission, &'a str)>,
    pub body: Option<&'a AccessControlPolicy>,
}

impl<'a> AclRequest<'a> {
    /// The grant headers that are present, with the permission each names.
    pub(crate) fn grant_headers(
        headers: [(AclPermission, Option<&'a str>); 5],
    ) -> Vec<(AclPermission, &'a str)> {
        headers
            .into_iter()
            .filter_map(|(p, v)| v.map(|v| (p, v)))
            .collect()
    }

    /// Does the request say anything about the ACL?
    pub(crate) fn is_empty(&self) -> bool {
        self.canned.is_none() && self.grants.is_empty() && self.body.is_none()
    }

    /// The ACL asked for, owned by `owner` (`bucket_owner` is named by the
    /// bucket-owner-* canned ACLs); None when nothing is asked. A refused
    /// grantee or a mix of ways → the S3 error, before anything is stored.
    pub(crate) fn acl(
        &self,
        owner: &CanonicalUser,
        bucket_owner: &CanonicalUser,
    ) -> S3Result<Option<Acl>> {
        match (self.canned, self.grants.is_empty(), self.body) {
            (Some(_), false, _) => Err(s3_error!(
                InvalidRequest,
                "Specifying both Canned ACLs and Header Grants is not allowed"
            )),
            (Some(_), true, Some(_)) | (None, false, Some(_)) => Err(s3_error!(
                UnexpectedContent,
                "This request does not support content"
            )),
            (Some(c), true, None) => {
                let c = CannedAcl::parse(c).map_err(|e| policy_err(&e))?;
                Ok(Some(c.to_acl(owner, bucket_owner)))
            }
            (None, false, None) => Acl::from_grant_headers(owner, &self.grants)
                .map(Some)
                .map_err(|e| policy_err(&e)),
            (None, true, Some(body)) => acl_from_body(owner, body)
                .map(Some)
                .map_err(|e| policy_err(&e)),
            (None, true, None) => Ok(None),
        }
    }

    /// Like [`AclRequest::acl`] for Put*Acl, where saying nothing is an error.
    pub(crate) fn required_acl(
        &self,
        owner: &CanonicalUser,
        bucket_owner: &CanonicalUser,
    ) -> S3Result<Acl> {
        self.acl(owner, bucket_owner)?.ok_or_else(|| {
            s3_error!(
                MissingSecurityHeader,
                "Your request was missing a required header: x-amz-acl, x-amz-grant-* or an AccessControlPolicy body"
            )
        })
    }
}

/// May bucket `b` hold `acl` (owned by `owner`)? Every user a grant names
/// must exist (400 InvalidArgument "Invalid id", as AWS answers an id of no
/// account); BucketOwnerEnforced allows only the owner's full control (400
/// AccessControlListNotSupported); BlockPublicAcls refuses a public ACL
/// (403 AccessDenied), as on AWS.
pub(crate) async fn admit_acl(
    s: &LiumaS3,
    b: &BucketInfo,
    acl: &Acl,
    owner: &CanonicalUser,
) -> S3Result<()> {
    for grant in &acl.grants {
        if let liuma_policy::Grantee::User { id, .. } = &grant.grantee
            && *id != owner.id
            && s.engine
                .user_by_canonical_id(id)
                .await
                .map_err(s3_err)?
                .is_none()
        {
            return Err(s3_error!(InvalidArgument, "Invalid id"));
        }
    }
    if !ownership(b).unwrap_or_default().acls_enabled() && !owner_only(acl, owner) {
        return Err(s3_error!(
            AccessControlListNotSupported,
            "The bucket does not allow ACLs"
        ));
    }
    if acl.is_public() && public_access_block(b).is_some_and(|p| p.block_public_acls) {
        return Err(access_denied());
    }
    Ok(())
}

pub(crate) async fn put_bucket_acl(
    s: &LiumaS3,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let owner = owner_of(s, &b).await?;
    let input = &req.input;
    let request = acl_request!(
        input,
        BucketCannedACL,
        write: input.grant_write.as_deref(),
        body: input.access_control_policy.as_ref()
    );
    let acl = request.required_acl(&owner, &owner)?;
    admit_acl(s, &b, &acl, &owner).await?;
    set_attr(s, &b.name, ACL_ATTR, stored_acl(&acl, &owner)).await?;
    Ok(S3Response::new(PutBucketAclOutput::default()))
}

/// An ACL as the S3 Owner and Grant DTOs.
pub(crate) fn acl_dto(acl: &Acl) -> (Owner, Vec<Grant>) {
    let owner = Owner {
        display_name: Some(acl.owner.display_name.clone()),
        id: Some(acl.owner.id.clone()),
    };
    let grants = acl
        .grants
        .iter()
        .map(|g| {
            let grantee = match &g.grantee {
                PGrantee::User { id, display_name } => Grantee {
                    display_name: display_name.clone(),
                    email_address: None,
                    id: Some(id.clone()),
                    type_: Type::from_static(Type::CANONICAL_USER),
                    uri: None,
                },
                group => Grantee {
                    display_name: None,
                    email_address: None,
                    id: None,
                    type_: Type::from_static(Type::GROUP),
                    uri: group.uri().map(str::to_owned),
                },
            };
            Grant {
                grantee: Some(grantee),
                permission: Some(Permission::from(g.permission.as_str().to_owned())),
            }
        })
        .collect();
    (owner, grants)
}

pub(crate) async fn get_bucket_acl(
    s: &LiumaS3,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let (owner, grants) = acl_dto(&bucket_acl(&b, &owner_of(s, &b).await?));
    Ok(S3Response::new(GetBucketAclOutput {
        grants: Some(grants),
        owner: Some(owner),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_acl_forms() {
        let owner = CanonicalUser {
            id: "a".repeat(64),
            display_name: "k".to_owned(),
        };
        assert_eq!(stored_acl(&Acl::private(&owner), &owner), None);
        let pr = CannedAcl::PublicRead.to_acl(&owner, &owner);
        assert_eq!(
            Acl::parse_stored(&stored_acl(&pr, &owner).expect("json"), &owner),
            Ok(pr)
        );
        let prw = CannedAcl::PublicReadWrite.to_acl(&owner, &owner);
        let stored = stored_acl(&prw, &owner).expect("json");
        assert_eq!(Acl::parse_stored(&stored, &owner), Ok(prw));
    }

    #[test]
    fn acl_request_forms() {
        let owner = CanonicalUser {
            id: "a".repeat(64),
            display_name: "w".to_owned(),
        };
        let bucket_owner = CanonicalUser {
            id: "b".repeat(64),
            display_name: "o".to_owned(),
        };
        let code = |r: S3Result<Option<Acl>>| r.err().map(|e| e.code().as_str().to_owned());
        let none = AclRequest::default();
        assert!(none.is_empty());
        assert!(matches!(none.acl(&owner, &bucket_owner), Ok(None)));
        assert!(none.required_acl(&owner, &bucket_owner).is_err());
        let canned = AclRequest {
            canned: Some("bucket-owner-read"),
            ..Default::default()
        };
        let acl = canned
            .acl(&owner, &bucket_owner)
            .ok()
            .flatten()
            .expect("acl");
        assert_eq!(
            acl.grants.len(),
            2,
            "owner full control + bucket owner read"
        );
        let grant = "id=\"".to_owned() + &"c".repeat(64) + "\"";
        let both = AclRequest {
            canned: Some("private"),
            grants: vec![(AclPermission::Read, grant.as_str())],
            body: None,
        };
        assert_eq!(
            code(both.acl(&owner, &bucket_owner)).as_deref(),
            Some("InvalidRequest")
        );
        let bad = AclRequest {
            grants: vec![(AclPermission::Read, "id=\"short\"")],
            ..Default::default()
        };
        assert_eq!(
            code(bad.acl(&owner, &bucket_owner)).as_deref(),
            Some("InvalidArgument")
        );
    }
}
