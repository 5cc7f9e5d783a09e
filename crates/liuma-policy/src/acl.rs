//! S3 access control lists: the stored model (JSON in bucket attrs and
//! object versions), canned ACLs, `x-amz-grant-*` header parsing, and the
//! check "does this ACL give this principal this permission".

use serde::{Deserialize, Serialize};

use crate::error::PolicyError;
use crate::policy::{Principal, is_canonical_id};

/// URI of the AllUsers group (anyone, anonymous included).
pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// URI of the AuthenticatedUsers group (any signed request; in liuma:
/// any user of this liuma).
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// A user as S3 shows it in Owner and Grantee elements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalUser {
    /// 64 lowercase hex characters.
    pub id: String,
    /// The user name.
    pub display_name: String,
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Grantee {
    /// One user by canonical id.
    User {
        /// Canonical id.
        id: String,
        /// Display name, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
    },
    /// Everyone, anonymous included.
    AllUsers,
    /// Every user of this liuma (signed requests).
    AuthenticatedUsers,
}

impl Grantee {
    /// The group URI of a group grantee.
    pub fn uri(&self) -> Option<&'static str> {
        match self {
            Self::User { .. } => None,
            Self::AllUsers => Some(ALL_USERS_URI),
            Self::AuthenticatedUsers => Some(AUTHENTICATED_USERS_URI),
        }
    }

    /// The grantee of a group URI; unknown groups (LogDelivery...) are refused.
    pub fn from_uri(uri: &str) -> Result<Self, PolicyError> {
        match uri {
            ALL_USERS_URI => Ok(Self::AllUsers),
            AUTHENTICATED_USERS_URI => Ok(Self::AuthenticatedUsers),
            other => Err(PolicyError::InvalidGroup(other.to_owned())),
        }
    }

    /// A user grantee, its id checked for shape.
    pub fn user(id: &str, display_name: Option<String>) -> Result<Self, PolicyError> {
        if !is_canonical_id(id) {
            return Err(PolicyError::InvalidId(id.to_owned()));
        }
        Ok(Self::User {
            id: id.to_owned(),
            display_name,
        })
    }
}

/// One ACL permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AclPermission {
    /// List the bucket / read the object.
    Read,
    /// Write and delete objects in the bucket.
    Write,
    /// Read the ACL.
    ReadAcp,
    /// Write the ACL.
    WriteAcp,
    /// All of the above.
    FullControl,
}

impl AclPermission {
    /// The S3 name (`READ`, `WRITE_ACP`, `FULL_CONTROL`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::ReadAcp => "READ_ACP",
            Self::WriteAcp => "WRITE_ACP",
            Self::FullControl => "FULL_CONTROL",
        }
    }

    /// Parse an S3 permission name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "READ" => Self::Read,
            "WRITE" => Self::Write,
            "READ_ACP" => Self::ReadAcp,
            "WRITE_ACP" => Self::WriteAcp,
            "FULL_CONTROL" => Self::FullControl,
            _ => return None,
        })
    }

    /// Does holding `self` give `wanted`?
    fn covers(self, wanted: AclPermission) -> bool {
        self == wanted || self == Self::FullControl
    }
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// To whom.
    pub grantee: Grantee,
    /// What.
    pub permission: AclPermission,
}

/// An ACL: owner and grants, as S3's AccessControlPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// The owner of the resource; it always keeps READ_ACP and WRITE_ACP.
    pub owner: CanonicalUser,
    /// Grants, in order.
    pub grants: Vec<Grant>,
}

/// The canned ACLs of `x-amz-acl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedAcl {
    /// Owner FULL_CONTROL only.
    Private,
    /// + AllUsers READ.
    PublicRead,
    /// + AllUsers READ and WRITE.
    PublicReadWrite,
    /// + AuthenticatedUsers READ.
    AuthenticatedRead,
    /// Objects: + bucket owner READ.
    BucketOwnerRead,
    /// Objects: + bucket owner FULL_CONTROL.
    BucketOwnerFullControl,
}

impl CannedAcl {
    /// Parse an `x-amz-acl` value. `aws-exec-read` and `log-delivery-write`
    /// name AWS services liuma does not have, so they are refused.
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        Ok(match s {
            "private" => Self::Private,
            "public-read" => Self::PublicRead,
            "public-read-write" => Self::PublicReadWrite,
            "authenticated-read" => Self::AuthenticatedRead,
            "bucket-owner-read" => Self::BucketOwnerRead,
            "bucket-owner-full-control" => Self::BucketOwnerFullControl,
            other => return Err(PolicyError::InvalidCannedAcl(other.to_owned())),
        })
    }

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::PublicRead => "public-read",
            Self::PublicReadWrite => "public-read-write",
            Self::AuthenticatedRead => "authenticated-read",
            Self::BucketOwnerRead => "bucket-owner-read",
            Self::BucketOwnerFullControl => "bucket-owner-full-control",
        }
    }

    /// Does this canned ACL grant anything to a public group?
    pub fn is_public(self) -> bool {
        matches!(
            self,
            Self::PublicRead | Self::PublicReadWrite | Self::AuthenticatedRead
        )
    }

    /// The ACL it stands for. `bucket_owner` only matters for the
    /// bucket-owner-* ACLs of objects (on a bucket they are the owner).
    pub fn to_acl(self, owner: &CanonicalUser, bucket_owner: &CanonicalUser) -> Acl {
        let user = |u: &CanonicalUser| Grantee::User {
            id: u.id.clone(),
            display_name: Some(u.display_name.clone()),
        };
        let mut grants = vec![Grant {
            grantee: user(owner),
            permission: AclPermission::FullControl,
        }];
        let mut add = |grantee, permission| {
            grants.push(Grant {
                grantee,
                permission,
            })
        };
        match self {
            Self::Private => {}
            Self::PublicRead => add(Grantee::AllUsers, AclPermission::Read),
            Self::PublicReadWrite => {
                add(Grantee::AllUsers, AclPermission::Read);
                add(Grantee::AllUsers, AclPermission::Write);
            }
            Self::AuthenticatedRead => add(Grantee::AuthenticatedUsers, AclPermission::Read),
            Self::BucketOwnerRead if bucket_owner.id != owner.id => {
                add(user(bucket_owner), AclPermission::Read);
            }
            Self::BucketOwnerFullControl if bucket_owner.id != owner.id => {
                add(user(bucket_owner), AclPermission::FullControl);
            }
            Self::BucketOwnerRead | Self::BucketOwnerFullControl => {}
        }
        Acl {
            owner: owner.clone(),
            grants,
        }
    }
}

impl Acl {
    /// The private ACL of `owner`.
    pub fn private(owner: &CanonicalUser) -> Acl {
        CannedAcl::Private.to_acl(owner, owner)
    }

    /// Decode a stored ACL: JSON of [`Acl`], or the legacy bucket attr
    /// value `public-read` (from before ACLs were modelled), read as that
    /// canned ACL of `owner`.
    pub fn parse_stored(s: &str, owner: &CanonicalUser) -> Result<Acl, PolicyError> {
        if s == "public-read" {
            return Ok(CannedAcl::PublicRead.to_acl(owner, owner));
        }
        serde_json::from_str(s).map_err(|_| PolicyError::BadStoredAcl)
    }

    /// The JSON to store.
    pub fn to_stored(&self) -> String {
        // An Acl is strings and enums only: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The ACL of `x-amz-grant-*` headers: each value is a comma-separated
    /// list of `id="..."`, `uri="..."` or `emailAddress="..."` (quotes
    /// optional). As on AWS the grants replace the ACL: the owner gets no
    /// FULL_CONTROL grant unless a header names it (it keeps READ_ACP and
    /// WRITE_ACP implicitly, see [`Acl::allows`]).
    pub fn from_grant_headers(
        owner: &CanonicalUser,
        headers: &[(AclPermission, &str)],
    ) -> Result<Acl, PolicyError> {
        let mut grants = Vec::new();
        for (permission, value) in headers {
            for item in value.split(',') {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                let (kind, v) = item
                    .split_once('=')
                    .ok_or_else(|| PolicyError::InvalidGrant(item.to_owned()))?;
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                let grantee = match kind.trim() {
                    "id" => Grantee::user(v, None)?,
                    "uri" => Grantee::from_uri(v)?,
                    "emailAddress" => return Err(PolicyError::EmailGrantee(v.to_owned())),
                    _ => return Err(PolicyError::InvalidGrant(item.to_owned())),
                };
                grants.push(Grant {
                    grantee,
                    permission: *permission,
                });
            }
        }
        Ok(Acl {
            owner: owner.clone(),
            grants,
        })
    }

    /// Does this ACL give `who` the permission `perm`? With `ignore_public`
    /// (PublicAccessBlock IgnorePublicAcls) grants to AllUsers and
    /// AuthenticatedUsers count for nothing. The owner always holds
    /// READ_ACP and WRITE_ACP, as on AWS.
    pub fn allows(&self, who: &Principal<'_>, perm: AclPermission, ignore_public: bool) -> bool {
        if let Principal::User { canonical_id, .. } = who
            && *canonical_id == self.owner.id
            && matches!(perm, AclPermission::ReadAcp | AclPermission::WriteAcp)
        {
            return true;
        }
        self.grants.iter().any(|g| {
            g.permission.covers(perm)
                && match (&g.grantee, who) {
                    (Grantee::User { id, .. }, Principal::User { canonical_id, .. }) => {
                        id == canonical_id
                    }
                    (Grantee::User { .. }, Principal::Anonymous) => false,
                    (Grantee::AllUsers, _) => !ignore_public,
                    (Grantee::AuthenticatedUsers, Principal::User { .. }) => !ignore_public,
                    (Grantee::AuthenticatedUsers, Principal::Anonymous) => false,
                }
        })
    }

    /// AWS's "public" for ACLs: a grant to AllUsers or AuthenticatedUsers.
    pub fn is_public(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(c: char, name: &str) -> CanonicalUser {
        CanonicalUser {
            id: c.to_string().repeat(64),
            display_name: name.to_owned(),
        }
    }

    fn who(u: &CanonicalUser) -> Principal<'_> {
        Principal::User {
            name: &u.display_name,
            canonical_id: &u.id,
        }
    }

    #[test]
    fn canned_acls() {
        let (a, b, c) = (user('a', "alice"), user('b', "bob"), user('c', "carol"));
        let acl = CannedAcl::PublicRead.to_acl(&a, &a);
        assert!(acl.is_public());
        assert!(acl.allows(&Principal::Anonymous, AclPermission::Read, false));
        assert!(!acl.allows(&Principal::Anonymous, AclPermission::Read, true));
        assert!(!acl.allows(&Principal::Anonymous, AclPermission::Write, false));
        assert!(acl.allows(&who(&a), AclPermission::Write, true));
        let acl = CannedAcl::AuthenticatedRead.to_acl(&a, &a);
        assert!(acl.allows(&who(&b), AclPermission::Read, false));
        assert!(!acl.allows(&Principal::Anonymous, AclPermission::Read, false));
        let acl = CannedAcl::BucketOwnerRead.to_acl(&a, &b);
        assert!(acl.allows(&who(&b), AclPermission::Read, false));
        assert!(!acl.allows(&who(&b), AclPermission::Write, false));
        assert!(!acl.allows(&who(&c), AclPermission::Read, false));
        assert!(!acl.is_public());
        let acl = CannedAcl::BucketOwnerFullControl.to_acl(&a, &b);
        assert!(acl.allows(&who(&b), AclPermission::WriteAcp, false));
        assert_eq!(CannedAcl::Private.to_acl(&a, &a).grants.len(), 1);
        assert!(CannedAcl::parse("log-delivery-write").is_err());
        assert_eq!(
            CannedAcl::parse("public-read-write"),
            Ok(CannedAcl::PublicReadWrite)
        );
    }

    #[test]
    fn stored_round_trip_and_legacy() {
        let a = user('a', "alice");
        let acl = CannedAcl::PublicReadWrite.to_acl(&a, &a);
        assert_eq!(Acl::parse_stored(&acl.to_stored(), &a), Ok(acl));
        let legacy = Acl::parse_stored("public-read", &a).expect("legacy");
        assert_eq!(legacy, CannedAcl::PublicRead.to_acl(&a, &a));
        assert_eq!(
            Acl::parse_stored("nope", &a),
            Err(PolicyError::BadStoredAcl)
        );
    }

    #[test]
    fn grant_headers() {
        let (a, b) = (user('a', "alice"), user('b', "bob"));
        let h = format!("id=\"{}\", uri=\"{ALL_USERS_URI}\"", b.id);
        let acl = Acl::from_grant_headers(&a, &[(AclPermission::Read, &h)]).expect("parse");
        assert_eq!(acl.grants.len(), 2);
        assert!(acl.allows(&who(&b), AclPermission::Read, false));
        assert!(acl.allows(&Principal::Anonymous, AclPermission::Read, false));
        // The owner keeps its ACP rights but not READ unless granted.
        assert!(acl.allows(&who(&a), AclPermission::WriteAcp, false));
        assert!(!acl.allows(&who(&a), AclPermission::Write, false));
        let bad = |v: &str| Acl::from_grant_headers(&a, &[(AclPermission::Read, v)]);
        assert!(matches!(
            bad("emailAddress=\"x@y.z\""),
            Err(PolicyError::EmailGrantee(_))
        ));
        assert!(matches!(
            bad("uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\""),
            Err(PolicyError::InvalidGroup(_))
        ));
        assert!(matches!(
            bad("id=\"short\""),
            Err(PolicyError::InvalidId(_))
        ));
        assert!(matches!(bad("foo=bar"), Err(PolicyError::InvalidGrant(_))));
        assert!(matches!(bad("noequals"), Err(PolicyError::InvalidGrant(_))));
        for e in [bad("foo=bar"), bad("emailAddress=a@b")] {
            assert_eq!(e.map(|_| ()).unwrap_err().s3_code(), "InvalidArgument");
        }
    }
}
