//! Why a policy, ACL or access setting was refused. The Display text is
//! the message the S3 front sends back; where AWS has a known message for
//! the case (MalformedPolicy "Policy has invalid action", ...) it is that.

/// A refused policy document, ACL or grant header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not JSON, or JSON of the wrong shape at the top.
    #[error("This policy contains invalid Json")]
    InvalidJson,
    /// A required element is absent (`Statement`, `Effect`, `Principal`, ...).
    #[error("Missing required field {0}")]
    MissingField(&'static str),
    /// `Statement` is an empty array.
    #[error("Could not parse the policy: Statement is empty!")]
    EmptyStatement,
    /// A key of the policy or of a statement that the grammar does not have.
    #[error("Unknown field {0}")]
    UnknownField(String),
    /// `Version` is neither `2012-10-17` nor `2008-10-17`.
    #[error("The policy must contain a valid version string")]
    InvalidVersion,
    /// Two statements carry the same `Sid`.
    #[error("Statement IDs (SID) in a single policy must be unique")]
    DuplicateSid,
    /// `Effect` is not `Allow` or `Deny`.
    #[error("Invalid effect: {0}")]
    InvalidEffect(String),
    /// Both `Action` and `NotAction` (or `Resource`/`NotResource`,
    /// `Principal`/`NotPrincipal`) in one statement.
    #[error("Statement has both {0} and Not{0}")]
    BothElements(&'static str),
    /// A principal liuma cannot name (not `*`, a user name, a user ARN or a
    /// canonical id), or a principal in an identity policy.
    #[error("Invalid principal in policy")]
    InvalidPrincipal,
    /// An identity policy names a principal: it always applies to its user.
    #[error("Policy document should not specify a principal.")]
    PrincipalInIdentityPolicy,
    /// An action that is not `*`, not `s3:...`, or an unknown S3 action.
    #[error("Policy has invalid action")]
    InvalidAction,
    /// A resource that is not an S3 ARN, or (bucket policy) one outside the bucket.
    #[error("Policy has invalid resource")]
    InvalidResource,
    /// No action of the statement applies to any of its resources
    /// (e.g. `s3:GetObject` on `arn:aws:s3:::bucket`).
    #[error("Action does not apply to any resource(s) in statement")]
    ActionResourceMismatch,
    /// A condition operator liuma does not know.
    #[error("Invalid Condition type : {0}")]
    InvalidConditionType(String),
    /// A condition key that is neither `aws:...` nor `s3:...`.
    #[error("Policy has an invalid condition key")]
    InvalidConditionKey(String),
    /// A condition value the operator cannot read (bad CIDR, number, date...).
    #[error("Invalid Condition value for {operator}: {value}")]
    InvalidConditionValue {
        /// The condition operator.
        operator: String,
        /// The value as written.
        value: String,
    },
    /// A canned ACL name S3 does not have, or one liuma does not serve.
    #[error("Invalid canned ACL: {0}")]
    InvalidCannedAcl(String),
    /// A grant header entry that is not `id=`, `uri=` or `emailAddress=`.
    #[error("Invalid grant: {0}")]
    InvalidGrant(String),
    /// Grants by e-mail address: liuma users have no e-mail address.
    #[error("Grants by emailAddress are not supported: {0}")]
    EmailGrantee(String),
    /// A group URI other than AllUsers / AuthenticatedUsers.
    #[error("Invalid group uri: {0}")]
    InvalidGroup(String),
    /// A grantee canonical id that is not 64 lowercase hex characters.
    #[error("Invalid id: {0}")]
    InvalidId(String),
    /// A stored ACL that does not decode (neither JSON nor `public-read`).
    #[error("stored ACL does not decode")]
    BadStoredAcl,
    /// An unknown `x-amz-object-ownership` value.
    #[error("Invalid ObjectOwnership: {0}")]
    InvalidOwnership(String),
}

impl PolicyError {
    /// The S3 error code this refusal is answered with: policy documents
    /// are `MalformedPolicy`, everything about ACLs is `InvalidArgument`
    /// (the code AWS uses for a bad grantee or canned ACL).
    pub fn s3_code(&self) -> &'static str {
        match self {
            Self::InvalidJson
            | Self::MissingField(_)
            | Self::EmptyStatement
            | Self::UnknownField(_)
            | Self::InvalidVersion
            | Self::DuplicateSid
            | Self::InvalidEffect(_)
            | Self::BothElements(_)
            | Self::InvalidPrincipal
            | Self::PrincipalInIdentityPolicy
            | Self::InvalidAction
            | Self::InvalidResource
            | Self::ActionResourceMismatch
            | Self::InvalidConditionType(_)
            | Self::InvalidConditionKey(_)
            | Self::InvalidConditionValue { .. } => "MalformedPolicy",
            Self::InvalidCannedAcl(_)
            | Self::InvalidGrant(_)
            | Self::EmailGrantee(_)
            | Self::InvalidGroup(_)
            | Self::InvalidId(_)
            | Self::BadStoredAcl
            | Self::InvalidOwnership(_) => "InvalidArgument",
        }
    }
}
