//! The S3 operations table (s3s operation name → IAM action, resource
//! level, ACL permission) and the list of S3 IAM actions a policy may name.
//! Actions and ACL permissions follow AWS's "Required permissions for
//! Amazon S3 API operations" and "Mapping of ACL permissions and access
//! policy permissions" pages.

use crate::acl::AclPermission;

/// What one S3 operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// IAM action, e.g. `s3:GetObject`.
    pub action: &'static str,
    /// The action AWS checks instead when the request names a `versionId`
    /// (`s3:GetObjectVersion` for GetObject...); None: same action.
    pub version_action: Option<&'static str>,
    /// Acts on an object: its resource is `arn:aws:s3:::bucket/key`.
    /// DeleteObjects is listed as an object operation: each key it deletes
    /// is one `s3:DeleteObject` on that key.
    pub on_object: bool,
    /// The ACL permission that lets a non-owner run it, if any.
    pub acl: Option<AclNeed>,
}

/// An ACL permission and whose ACL grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclNeed {
    /// The permission.
    pub perm: AclPermission,
    /// On the object's ACL (GetObject, Get/PutObjectAcl); false: on the
    /// bucket's (ListBucket, and WRITE for every object write or delete).
    pub on_object: bool,
}

impl Operation {
    /// The IAM action for this request.
    pub fn action_for(&self, has_version_id: bool) -> &'static str {
        match (has_version_id, self.version_action) {
            (true, Some(a)) => a,
            _ => self.action,
        }
    }
}

const fn op(
    action: &'static str,
    version_action: Option<&'static str>,
    on_object: bool,
    acl: Option<(AclPermission, bool)>,
) -> Operation {
    let acl = match acl {
        Some((perm, on_object)) => Some(AclNeed { perm, on_object }),
        None => None,
    };
    Operation {
        action,
        version_action,
        on_object,
        acl,
    }
}

/// The operation table entry of an s3s operation name; None for an
/// operation liuma does not know (the caller refuses it).
pub fn operation(name: &str) -> Option<Operation> {
    use AclPermission::{Read, ReadAcp, Write, WriteAcp};
    const BUCKET_READ: Option<(AclPermission, bool)> = Some((Read, false));
    const BUCKET_WRITE: Option<(AclPermission, bool)> = Some((Write, false));
    let o = match name {
        // Service level.
        "ListBuckets" => op("s3:ListAllMyBuckets", None, false, None),
        // Bucket level.
        "CreateBucket" => op("s3:CreateBucket", None, false, None),
        "DeleteBucket" => op("s3:DeleteBucket", None, false, None),
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => {
            op("s3:ListBucket", None, false, BUCKET_READ)
        }
        "ListObjectVersions" => op("s3:ListBucketVersions", None, false, BUCKET_READ),
        "ListMultipartUploads" => op("s3:ListBucketMultipartUploads", None, false, BUCKET_READ),
        "GetBucketLocation" => op("s3:GetBucketLocation", None, false, None),
        "GetBucketVersioning" => op("s3:GetBucketVersioning", None, false, None),
        "PutBucketVersioning" => op("s3:PutBucketVersioning", None, false, None),
        "GetBucketCors" => op("s3:GetBucketCORS", None, false, None),
        "PutBucketCors" | "DeleteBucketCors" => op("s3:PutBucketCORS", None, false, None),
        "GetBucketLifecycleConfiguration" => op("s3:GetLifecycleConfiguration", None, false, None),
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => {
            op("s3:PutLifecycleConfiguration", None, false, None)
        }
        "GetBucketEncryption" => op("s3:GetEncryptionConfiguration", None, false, None),
        "PutBucketEncryption" | "DeleteBucketEncryption" => {
            op("s3:PutEncryptionConfiguration", None, false, None)
        }
        "GetBucketTagging" => op("s3:GetBucketTagging", None, false, None),
        "PutBucketTagging" | "DeleteBucketTagging" => op("s3:PutBucketTagging", None, false, None),
        "GetBucketAcl" => op("s3:GetBucketAcl", None, false, Some((ReadAcp, false))),
        "PutBucketAcl" => op("s3:PutBucketAcl", None, false, Some((WriteAcp, false))),
        "GetBucketPolicy" => op("s3:GetBucketPolicy", None, false, None),
        "PutBucketPolicy" => op("s3:PutBucketPolicy", None, false, None),
        "DeleteBucketPolicy" => op("s3:DeleteBucketPolicy", None, false, None),
        "GetBucketPolicyStatus" => op("s3:GetBucketPolicyStatus", None, false, None),
        "GetBucketOwnershipControls" => op("s3:GetBucketOwnershipControls", None, false, None),
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => {
            op("s3:PutBucketOwnershipControls", None, false, None)
        }
        "GetPublicAccessBlock" => op("s3:GetBucketPublicAccessBlock", None, false, None),
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => {
            op("s3:PutBucketPublicAccessBlock", None, false, None)
        }
        // Object level.
        "GetObject" | "HeadObject" => op(
            "s3:GetObject",
            Some("s3:GetObjectVersion"),
            true,
            Some((Read, true)),
        ),
        "GetObjectAttributes" => op(
            "s3:GetObjectAttributes",
            Some("s3:GetObjectVersionAttributes"),
            true,
            Some((Read, true)),
        ),
        "GetObjectAcl" => op(
            "s3:GetObjectAcl",
            Some("s3:GetObjectVersionAcl"),
            true,
            Some((ReadAcp, true)),
        ),
        "PutObjectAcl" => op(
            "s3:PutObjectAcl",
            Some("s3:PutObjectVersionAcl"),
            true,
            Some((WriteAcp, true)),
        ),
        "GetObjectTagging" => op(
            "s3:GetObjectTagging",
            Some("s3:GetObjectVersionTagging"),
            true,
            None,
        ),
        "PutObjectTagging" => op(
            "s3:PutObjectTagging",
            Some("s3:PutObjectVersionTagging"),
            true,
            None,
        ),
        "DeleteObjectTagging" => op(
            "s3:DeleteObjectTagging",
            Some("s3:DeleteObjectVersionTagging"),
            true,
            None,
        ),
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => op("s3:PutObject", None, true, BUCKET_WRITE),
        "DeleteObject" | "DeleteObjects" => op(
            "s3:DeleteObject",
            Some("s3:DeleteObjectVersion"),
            true,
            BUCKET_WRITE,
        ),
        "AbortMultipartUpload" => op("s3:AbortMultipartUpload", None, true, BUCKET_WRITE),
        "ListParts" => op("s3:ListMultipartUploadParts", None, true, BUCKET_WRITE),
        _ => return None,
    };
    Some(o)
}

/// What an IAM action acts on; a policy's action must apply to one of its
/// resources ("Action does not apply to any resource(s) in statement").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// `arn:aws:s3:::bucket/key`.
    Object,
    /// `arn:aws:s3:::bucket`.
    Bucket,
    /// No bucket at all (`s3:ListAllMyBuckets`): resource `*` only.
    Account,
}

/// The S3 IAM actions (names without `s3:`) a policy may name, as AWS's
/// "Actions defined by Amazon S3" lists them, with their resource level.
pub(crate) const ACTIONS: &[(&str, Level)] = &[
    ("AbortMultipartUpload", Level::Object),
    ("BypassGovernanceRetention", Level::Object),
    ("CreateBucket", Level::Bucket),
    ("DeleteBucket", Level::Bucket),
    ("DeleteBucketOwnershipControls", Level::Bucket),
    ("DeleteBucketPolicy", Level::Bucket),
    ("DeleteBucketWebsite", Level::Bucket),
    ("DeleteObject", Level::Object),
    ("DeleteObjectTagging", Level::Object),
    ("DeleteObjectVersion", Level::Object),
    ("DeleteObjectVersionTagging", Level::Object),
    ("GetAccelerateConfiguration", Level::Bucket),
    ("GetAnalyticsConfiguration", Level::Bucket),
    ("GetBucketAcl", Level::Bucket),
    ("GetBucketCORS", Level::Bucket),
    ("GetBucketLocation", Level::Bucket),
    ("GetBucketLogging", Level::Bucket),
    ("GetBucketNotification", Level::Bucket),
    ("GetBucketObjectLockConfiguration", Level::Bucket),
    ("GetBucketOwnershipControls", Level::Bucket),
    ("GetBucketPolicy", Level::Bucket),
    ("GetBucketPolicyStatus", Level::Bucket),
    ("GetBucketPublicAccessBlock", Level::Bucket),
    ("GetBucketRequestPayment", Level::Bucket),
    ("GetBucketTagging", Level::Bucket),
    ("GetBucketVersioning", Level::Bucket),
    ("GetBucketWebsite", Level::Bucket),
    ("GetEncryptionConfiguration", Level::Bucket),
    ("GetIntelligentTieringConfiguration", Level::Bucket),
    ("GetInventoryConfiguration", Level::Bucket),
    ("GetLifecycleConfiguration", Level::Bucket),
    ("GetMetricsConfiguration", Level::Bucket),
    ("GetObject", Level::Object),
    ("GetObjectAcl", Level::Object),
    ("GetObjectAttributes", Level::Object),
    ("GetObjectLegalHold", Level::Object),
    ("GetObjectRetention", Level::Object),
    ("GetObjectTagging", Level::Object),
    ("GetObjectTorrent", Level::Object),
    ("GetObjectVersion", Level::Object),
    ("GetObjectVersionAcl", Level::Object),
    ("GetObjectVersionAttributes", Level::Object),
    ("GetObjectVersionForReplication", Level::Object),
    ("GetObjectVersionTagging", Level::Object),
    ("GetObjectVersionTorrent", Level::Object),
    ("GetReplicationConfiguration", Level::Bucket),
    ("ListAllMyBuckets", Level::Account),
    ("ListBucket", Level::Bucket),
    ("ListBucketMultipartUploads", Level::Bucket),
    ("ListBucketVersions", Level::Bucket),
    ("ListMultipartUploadParts", Level::Object),
    ("ObjectOwnerOverrideToBucketOwner", Level::Object),
    ("PutAccelerateConfiguration", Level::Bucket),
    ("PutAnalyticsConfiguration", Level::Bucket),
    ("PutBucketAcl", Level::Bucket),
    ("PutBucketCORS", Level::Bucket),
    ("PutBucketLogging", Level::Bucket),
    ("PutBucketNotification", Level::Bucket),
    ("PutBucketObjectLockConfiguration", Level::Bucket),
    ("PutBucketOwnershipControls", Level::Bucket),
    ("PutBucketPolicy", Level::Bucket),
    ("PutBucketPublicAccessBlock", Level::Bucket),
    ("PutBucketRequestPayment", Level::Bucket),
    ("PutBucketTagging", Level::Bucket),
    ("PutBucketVersioning", Level::Bucket),
    ("PutBucketWebsite", Level::Bucket),
    ("PutEncryptionConfiguration", Level::Bucket),
    ("PutIntelligentTieringConfiguration", Level::Bucket),
    ("PutInventoryConfiguration", Level::Bucket),
    ("PutLifecycleConfiguration", Level::Bucket),
    ("PutMetricsConfiguration", Level::Bucket),
    ("PutObject", Level::Object),
    ("PutObjectAcl", Level::Object),
    ("PutObjectLegalHold", Level::Object),
    ("PutObjectRetention", Level::Object),
    ("PutObjectTagging", Level::Object),
    ("PutObjectVersionAcl", Level::Object),
    ("PutObjectVersionTagging", Level::Object),
    ("PutReplicationConfiguration", Level::Bucket),
    ("ReplicateDelete", Level::Object),
    ("ReplicateObject", Level::Object),
    ("ReplicateTags", Level::Object),
    ("RestoreObject", Level::Object),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation liuma serves maps to an action the policy grammar
    /// accepts, at the level the table says.
    #[test]
    fn table_actions_are_known() {
        for name in [
            "ListBuckets",
            "CreateBucket",
            "DeleteBucket",
            "HeadBucket",
            "ListObjects",
            "ListObjectsV2",
            "ListObjectVersions",
            "ListMultipartUploads",
            "GetBucketLocation",
            "GetBucketVersioning",
            "PutBucketVersioning",
            "GetBucketCors",
            "PutBucketCors",
            "DeleteBucketCors",
            "GetBucketLifecycleConfiguration",
            "PutBucketLifecycleConfiguration",
            "DeleteBucketLifecycle",
            "GetBucketEncryption",
            "PutBucketEncryption",
            "DeleteBucketEncryption",
            "GetBucketTagging",
            "PutBucketTagging",
            "DeleteBucketTagging",
            "GetBucketAcl",
            "PutBucketAcl",
            "GetBucketPolicy",
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "GetBucketPolicyStatus",
            "GetBucketOwnershipControls",
            "PutBucketOwnershipControls",
            "DeleteBucketOwnershipControls",
            "GetPublicAccessBlock",
            "PutPublicAccessBlock",
            "DeletePublicAccessBlock",
            "GetObject",
            "HeadObject",
            "GetObjectAttributes",
            "GetObjectAcl",
            "PutObjectAcl",
            "GetObjectTagging",
            "PutObjectTagging",
            "DeleteObjectTagging",
            "PutObject",
            "PostObject",
            "CopyObject",
            "CreateMultipartUpload",
            "UploadPart",
            "UploadPartCopy",
            "CompleteMultipartUpload",
            "DeleteObject",
            "DeleteObjects",
            "AbortMultipartUpload",
            "ListParts",
        ] {
            let o = operation(name).unwrap_or_else(|| panic!("{name} missing"));
            for a in [Some(o.action), o.version_action].into_iter().flatten() {
                let short = a.strip_prefix("s3:").expect("s3 prefix");
                let level = ACTIONS
                    .iter()
                    .find(|(n, _)| *n == short)
                    .map(|(_, l)| *l)
                    .unwrap_or_else(|| panic!("{a} not in ACTIONS"));
                let want = if o.on_object {
                    Level::Object
                } else if name == "ListBuckets" {
                    Level::Account
                } else {
                    Level::Bucket
                };
                assert_eq!(level, want, "{name}");
            }
        }
        assert!(operation("SelectObjectContent").is_none());
    }
}
