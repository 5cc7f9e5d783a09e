//! liuma's access control model, pure (no I/O, no engine): S3 bucket and
//! identity policies (AWS's JSON grammar, validation, evaluation, "is it
//! public"), ACLs (canned, grant headers, stored JSON), PublicAccessBlock,
//! ObjectOwnership, the table of S3 operations and the one [`authorize`]
//! decision the S3 front calls for every request.

mod acl;
mod authorize;
mod condition;
mod error;
mod ops;
mod policy;
mod settings;
mod wildcard;

pub use acl::{
    ALL_USERS_URI, AUTHENTICATED_USERS_URI, Acl, AclPermission, CannedAcl, CanonicalUser, Grant,
    Grantee,
};
pub use authorize::{Inputs, Verdict, authorize};
pub use error::PolicyError;
pub use ops::{AclNeed, Operation, operation};
pub use policy::{
    Context, Decision, Policy, PolicyKind, Principal, Request, is_canonical_id, is_user_name,
};
pub use settings::{ObjectOwnership, PublicAccessBlock};

#[cfg(test)]
mod tests;
