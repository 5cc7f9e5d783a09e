//! The two other bucket access settings: PublicAccessBlock (four flags)
//! and ObjectOwnership (who owns objects others write; whether ACLs count).

use serde::{Deserialize, Serialize};

use crate::error::PolicyError;

/// A bucket's PublicAccessBlock configuration (all false: none set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse (403) ACLs that grant to AllUsers/AuthenticatedUsers.
    #[serde(default)]
    pub block_public_acls: bool,
    /// Public ACL grants count for nothing.
    #[serde(default)]
    pub ignore_public_acls: bool,
    /// Refuse (403) a public bucket policy.
    #[serde(default)]
    pub block_public_policy: bool,
    /// A public bucket policy grants only to users of this liuma.
    #[serde(default)]
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// Decode the stored attr; an undecodable one blocks everything
    /// (failing closed is the safe side of a public-access switch).
    pub fn parse_stored(s: &str) -> PublicAccessBlock {
        serde_json::from_str(s).unwrap_or(PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        })
    }

    /// The JSON to store.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A bucket's ObjectOwnership setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are disabled; the bucket owner owns every object (AWS's default
    /// for new buckets since April 2023).
    BucketOwnerEnforced,
    /// The bucket owner owns objects written with `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// The writer owns the object. The default when a bucket has no
    /// setting: liuma's buckets from before the setting existed kept
    /// their (public-read) ACLs working, as AWS's pre-2023 buckets do.
    #[default]
    ObjectWriter,
}

impl ObjectOwnership {
    /// Parse the S3 name.
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        Ok(match s {
            "BucketOwnerEnforced" => Self::BucketOwnerEnforced,
            "BucketOwnerPreferred" => Self::BucketOwnerPreferred,
            "ObjectWriter" => Self::ObjectWriter,
            other => return Err(PolicyError::InvalidOwnership(other.to_owned())),
        })
    }

    /// The S3 name (also the stored attr value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BucketOwnerEnforced => "BucketOwnerEnforced",
            Self::BucketOwnerPreferred => "BucketOwnerPreferred",
            Self::ObjectWriter => "ObjectWriter",
        }
    }

    /// Do ACLs grant anything? Not with BucketOwnerEnforced.
    pub fn acls_enabled(self) -> bool {
        self != Self::BucketOwnerEnforced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let p = PublicAccessBlock {
            block_public_acls: true,
            restrict_public_buckets: true,
            ..Default::default()
        };
        assert_eq!(PublicAccessBlock::parse_stored(&p.to_stored()), p);
        assert!(PublicAccessBlock::parse_stored("junk").block_public_policy);
        for o in [
            ObjectOwnership::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter,
        ] {
            assert_eq!(ObjectOwnership::parse(o.as_str()), Ok(o));
        }
        assert!(ObjectOwnership::parse("Nope").is_err());
    }
}
