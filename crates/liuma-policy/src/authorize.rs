//! The one access decision every S3 request goes through (issue #15's
//! access model): root bypasses everything; an explicit Deny in any
//! applicable policy refuses; the bucket owner may do everything; anyone
//! else needs an Allow from an identity policy, the bucket policy or an
//! ACL, with PublicAccessBlock's Ignore/Restrict flags applied.

use crate::acl::Acl;
use crate::ops::AclNeed;
use crate::policy::{Decision, Policy, Principal, Request};
use crate::settings::{ObjectOwnership, PublicAccessBlock};

/// Everything about the caller and the bucket the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Who asks.
    pub principal: Principal<'a>,
    /// The root user: allowed everything, always.
    pub is_root: bool,
    /// Canonical id of the bucket's owner (None: no bucket in the request).
    pub bucket_owner: Option<&'a str>,
    /// The caller's identity policies (empty for anonymous).
    pub identity_policies: &'a [Policy],
    /// The bucket policy, if any.
    pub bucket_policy: Option<&'a Policy>,
    /// The bucket ACL, if any.
    pub bucket_acl: Option<&'a Acl>,
    /// The object ACL (object operations on an existing object).
    pub object_acl: Option<&'a Acl>,
    /// The bucket's PublicAccessBlock (default: nothing blocked).
    pub public_access_block: PublicAccessBlock,
    /// The bucket's ObjectOwnership; BucketOwnerEnforced disables ACLs.
    /// (Added to the contract's shape: AWS ignores ACLs under it.)
    pub ownership: ObjectOwnership,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Allow,
    /// 403 AccessDenied; the reason is for logs, not for the client.
    Deny {
        /// Why.
        reason: &'static str,
    },
}

/// Decide one request. `acl` is what the operation table says an ACL must
/// grant for it (None: ACLs cannot allow this operation).
pub fn authorize(inputs: &Inputs<'_>, req: &Request<'_>, acl: Option<AclNeed>) -> Verdict {
    if inputs.is_root {
        return Verdict::Allow;
    }
    let is_user = matches!(req.principal, Principal::User { .. });
    // Identity policies only speak for users.
    let identity: &[Policy] = if is_user {
        inputs.identity_policies
    } else {
        &[]
    };
    let identity_decisions: Vec<Decision> = identity.iter().map(|p| p.evaluate(req)).collect();
    if identity_decisions.contains(&Decision::Deny) {
        return Verdict::Deny {
            reason: "explicit deny in an identity policy",
        };
    }
    let bucket_decision = inputs.bucket_policy.map(|p| p.evaluate(req));
    if bucket_decision == Some(Decision::Deny) {
        return Verdict::Deny {
            reason: "explicit deny in the bucket policy",
        };
    }
    if let (Principal::User { canonical_id, .. }, Some(owner)) =
        (req.principal, inputs.bucket_owner)
        && canonical_id == owner
    {
        return Verdict::Allow;
    }
    if identity_decisions.contains(&Decision::Allow) {
        return Verdict::Allow;
    }
    if bucket_decision == Some(Decision::Allow) {
        // RestrictPublicBuckets: a public policy grants only to users of
        // this liuma (AWS: to the owner's account and AWS services).
        let restricted = inputs.public_access_block.restrict_public_buckets
            && !is_user
            && inputs
                .bucket_policy
                .is_some_and(|p| p.allows_only_through_public(req));
        if !restricted {
            return Verdict::Allow;
        }
    }
    if let Some(need) = acl
        && inputs.ownership.acls_enabled()
    {
        let target = if need.on_object {
            inputs.object_acl
        } else {
            inputs.bucket_acl
        };
        let ignore_public = inputs.public_access_block.ignore_public_acls;
        if target.is_some_and(|a| a.allows(&req.principal, need.perm, ignore_public)) {
            return Verdict::Allow;
        }
    }
    Verdict::Deny {
        reason: "no policy or ACL allows it",
    }
}
