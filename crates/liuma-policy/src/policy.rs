//! Bucket and identity policies: AWS's JSON grammar, validated the way S3
//! validates PutBucketPolicy (MalformedPolicy with AWS's messages), and
//! evaluated against one request (explicit Deny wins; nothing matching is
//! NotApplicable, which the caller treats as "this policy does not allow").

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::condition::{self, Base, Condition, Qualifier};
use crate::error::PolicyError;
use crate::ops::{ACTIONS, Level};
use crate::wildcard;

/// Which kind of policy a document is; it decides what may appear in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind<'a> {
    /// A bucket policy: needs Principal; resources only in this bucket.
    Bucket {
        /// The bucket the policy is for.
        bucket: &'a str,
    },
    /// A user's identity policy: no Principal (it is the user).
    Identity,
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// An unsigned request.
    Anonymous,
    /// A liuma user.
    User {
        /// User name.
        name: &'a str,
        /// Its canonical id.
        canonical_id: &'a str,
    },
}

/// The request's condition context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// `aws:SourceIp`.
    pub source_ip: Option<IpAddr>,
    /// `aws:SecureTransport`.
    pub secure_transport: bool,
    /// `aws:CurrentTime` / `aws:EpochTime`, ms since the epoch.
    pub current_time_ms: u64,
    /// Every other key (lowercase): `s3:prefix`, `s3:max-keys`,
    /// `s3:x-amz-acl`, `s3:delimiter`, ...
    pub values: BTreeMap<String, Vec<String>>,
}

/// One request as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who.
    pub principal: Principal<'a>,
    /// IAM action, e.g. `s3:GetObject`.
    pub action: &'a str,
    /// `arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/key`, or `*` for
    /// service-level actions (ListAllMyBuckets).
    pub resource: &'a str,
    /// Condition context.
    pub context: &'a Context,
}

/// What one policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An applicable Deny statement.
    Deny,
    /// An applicable Allow statement and no applicable Deny.
    Allow,
    /// No statement applies.
    NotApplicable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// The principals of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous included.
    Any,
    /// User names or canonical ids (an entry matches either).
    Named(Vec<String>),
}

impl Principals {
    fn matches(&self, p: &Principal<'_>) -> bool {
        match (self, p) {
            (Self::Any, _) => true,
            (Self::Named(_), Principal::Anonymous) => false,
            (Self::Named(ids), Principal::User { name, canonical_id }) => {
                ids.iter().any(|i| i == name || i == canonical_id)
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    /// None in identity policies.
    principal: Option<(Principals, bool /* NotPrincipal */)>,
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<String>,
    not_resource: bool,
    conditions: Vec<Condition>,
}

/// A parsed, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// Is `s` a canonical user id (64 lowercase hex)?
pub fn is_canonical_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Is `s` a liuma user name (1-64 of `[A-Za-z0-9_.@-]`)?
pub fn is_user_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'))
}

/// A string or a non-empty array of strings (IAM's "string or list").
fn string_list(v: &Value, err: PolicyError) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| err.clone()))
            .collect(),
        _ => Err(err),
    }
}

fn parse_principal(v: &Value) -> Result<Principals, PolicyError> {
    let bad = || PolicyError::InvalidPrincipal;
    let obj = match v {
        Value::String(s) if s == "*" => return Ok(Principals::Any),
        Value::Object(o) if !o.is_empty() => o,
        _ => return Err(bad()),
    };
    let mut ids = Vec::new();
    for (kind, list) in obj {
        for entry in string_list(list, bad())? {
            match kind.as_str() {
                "AWS" if entry == "*" => return Ok(Principals::Any),
                "AWS" => {
                    // arn:aws:iam::<account>:user/NAME (liuma has no
                    // accounts: any account field), a name or a canonical id.
                    let id = match entry.strip_prefix("arn:aws:iam::") {
                        Some(rest) => rest
                            .split_once(":user/")
                            .map(|(_, n)| n.to_owned())
                            .ok_or_else(bad)?,
                        None => entry,
                    };
                    if !is_user_name(&id) {
                        return Err(bad());
                    }
                    ids.push(id);
                }
                "CanonicalUser" if is_canonical_id(&entry) => ids.push(entry),
                _ => return Err(bad()),
            }
        }
    }
    Ok(Principals::Named(ids))
}

/// Validate one action pattern: `*`, or `s3:` + a known action or a
/// pattern with wildcards (service prefix case-insensitive).
fn valid_action(a: &str) -> bool {
    if a == "*" {
        return true;
    }
    let Some((svc, name)) = a.split_once(':') else {
        return false;
    };
    if !svc.eq_ignore_ascii_case("s3") || name.is_empty() {
        return false;
    }
    wildcard::has_wildcard(name) || ACTIONS.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Does an action pattern match an action (case-insensitive)?
fn action_matches(pattern: &str, action: &str) -> bool {
    wildcard::matches(pattern, action, true)
}

/// The resource levels a resource pattern can name.
fn resource_levels(r: &str) -> Vec<Level> {
    if r == "*" {
        return vec![Level::Account, Level::Bucket, Level::Object];
    }
    let path = r.strip_prefix("arn:aws:s3:::").unwrap_or(r);
    match path.split_once('/') {
        Some(_) => vec![Level::Object],
        // `arn:aws:s3:::*` or `arn:aws:s3:::b*` also spans objects.
        None if path.contains('*') => vec![Level::Bucket, Level::Object],
        None => vec![Level::Bucket],
    }
}

fn valid_resource(r: &str, kind: PolicyKind<'_>) -> bool {
    match kind {
        PolicyKind::Identity => {
            r == "*"
                || r.strip_prefix("arn:aws:s3:::")
                    .is_some_and(|p| !p.is_empty())
        }
        // A bucket policy speaks of its own bucket only: the bucket part
        // is the literal name, then end or `/`.
        PolicyKind::Bucket { bucket } => r
            .strip_prefix("arn:aws:s3:::")
            .and_then(|p| p.strip_prefix(bucket))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
    }
}

const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// One of `X` / `NotX` (not both, not neither).
fn one_of<'v>(
    st: &'v Map<String, Value>,
    name: &'static str,
    not_name: &'static str,
) -> Result<Option<(&'v Value, bool)>, PolicyError> {
    match (st.get(name), st.get(not_name)) {
        (Some(_), Some(_)) => Err(PolicyError::BothElements(name)),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

fn parse_statement(
    st: &Value,
    kind: PolicyKind<'_>,
    sids: &mut HashSet<String>,
) -> Result<Statement, PolicyError> {
    let st = st.as_object().ok_or(PolicyError::InvalidJson)?;
    if let Some(k) = st.keys().find(|k| !STATEMENT_FIELDS.contains(&k.as_str())) {
        return Err(PolicyError::UnknownField(k.clone()));
    }
    if let Some(sid) = st.get("Sid") {
        let sid = sid.as_str().ok_or(PolicyError::InvalidJson)?;
        if !sid.is_empty() && !sids.insert(sid.to_owned()) {
            return Err(PolicyError::DuplicateSid);
        }
    }
    let effect = match st.get("Effect") {
        None => return Err(PolicyError::MissingField("Effect")),
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            return Err(PolicyError::InvalidEffect(shown));
        }
    };
    let principal = match (kind, one_of(st, "Principal", "NotPrincipal")?) {
        (PolicyKind::Identity, None) => None,
        (PolicyKind::Identity, Some(_)) => return Err(PolicyError::PrincipalInIdentityPolicy),
        (PolicyKind::Bucket { .. }, None) => return Err(PolicyError::MissingField("Principal")),
        (PolicyKind::Bucket { .. }, Some((v, not))) => Some((parse_principal(v)?, not)),
    };
    let (actions, not_action) =
        one_of(st, "Action", "NotAction")?.ok_or(PolicyError::MissingField("Action"))?;
    let actions = string_list(actions, PolicyError::InvalidAction)?;
    if !actions.iter().all(|a| valid_action(a)) {
        return Err(PolicyError::InvalidAction);
    }
    let (resources, not_resource) =
        one_of(st, "Resource", "NotResource")?.ok_or(PolicyError::MissingField("Resource"))?;
    let resources = string_list(resources, PolicyError::InvalidResource)?;
    if !resources.iter().all(|r| valid_resource(r, kind)) {
        return Err(PolicyError::InvalidResource);
    }
    // Every listed action must apply to some listed resource (S3 refuses
    // `s3:GetObject` on `arn:aws:s3:::bucket`); NotAction/NotResource
    // name what is excluded, so there is nothing to check.
    if !not_action && !not_resource {
        let levels: Vec<Level> = resources.iter().flat_map(|r| resource_levels(r)).collect();
        for a in &actions {
            let applies = ACTIONS.iter().any(|(name, level)| {
                levels.contains(level) && action_matches(a, &format!("s3:{name}"))
            });
            if !applies {
                return Err(PolicyError::ActionResourceMismatch);
            }
        }
    }
    let conditions = match st.get("Condition") {
        Some(c) => condition::parse(c)?,
        None => Vec::new(),
    };
    Ok(Statement {
        effect,
        principal,
        actions,
        not_action,
        resources,
        not_resource,
        conditions,
    })
}

impl Policy {
    /// Parse and validate a policy document.
    pub fn parse(text: &str, kind: PolicyKind<'_>) -> Result<Policy, PolicyError> {
        let doc: Value = serde_json::from_str(text).map_err(|_| PolicyError::InvalidJson)?;
        let doc = doc.as_object().ok_or(PolicyError::InvalidJson)?;
        for k in doc.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::UnknownField(k.clone()));
            }
        }
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(_) => return Err(PolicyError::InvalidVersion),
        }
        if doc.get("Id").is_some_and(|id| !id.is_string()) {
            return Err(PolicyError::InvalidJson);
        }
        let list = match doc.get("Statement") {
            None => return Err(PolicyError::MissingField("Statement")),
            Some(Value::Array(a)) if a.is_empty() => return Err(PolicyError::EmptyStatement),
            Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => return Err(PolicyError::InvalidJson),
        };
        let mut sids = HashSet::new();
        let statements = list
            .into_iter()
            .map(|s| parse_statement(s, kind, &mut sids))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { statements })
    }

    /// Evaluate against one request.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for st in &self.statements {
            if st.applies(req) {
                match st.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }

    /// The user names / canonical ids the policy names as principals, so
    /// the S3 front can refuse principals that do not exist ("Invalid
    /// principal in policy", as AWS does) — this crate cannot know users.
    pub fn named_principals(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for st in &self.statements {
            if let Some((Principals::Named(ids), _)) = &st.principal {
                out.extend(ids.iter().map(String::as_str));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// AWS's "public" (Block Public Access, "The meaning of public"): some
    /// Allow statement grants a "bad" action (`s3:Get*`, `s3:List*`,
    /// `s3:Put*`, `s3:Delete*`, `s3:AbortMultipartUpload`,
    /// `s3:RestoreObject`) to a non-fixed principal (`*`, or everyone but
    /// some via NotPrincipal) without a condition that fixes who can use
    /// it: `IpAddress` on `aws:SourceIp` (a CIDR other than /0), or a
    /// wildcard-free `StringEquals`/`ArnEquals` on `aws:SourceArn`,
    /// `aws:SourceVpc`, `aws:SourceVpce`, `aws:SourceOwner`,
    /// `aws:SourceAccount`, `aws:PrincipalOrgID`, `aws:PrincipalAccount`,
    /// `aws:userid`, `aws:username` or
    /// `s3:x-amz-server-side-encryption-aws-kms-key-id`.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(Statement::is_public)
    }

    /// Does any statement apply to the request with the principal check
    /// only (for RestrictPublicBuckets: does a public statement allow it)?
    pub(crate) fn allows_only_through_public(&self, req: &Request<'_>) -> bool {
        let mut any_private = false;
        let mut any_public = false;
        for st in &self.statements {
            if st.effect == Effect::Allow && st.applies(req) {
                if st.is_public() {
                    any_public = true;
                } else {
                    any_private = true;
                }
            }
        }
        any_public && !any_private
    }
}

const BAD_ACTIONS: &[&str] = &[
    "s3:Get*",
    "s3:List*",
    "s3:AbortMultipartUpload",
    "s3:Delete*",
    "s3:Put*",
    "s3:RestoreObject",
];

const FIXING_KEYS: &[&str] = &[
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:userid",
    "aws:username",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
];

impl Statement {
    fn applies(&self, req: &Request<'_>) -> bool {
        if let Some((principals, not)) = &self.principal
            && principals.matches(&req.principal) == *not
        {
            return false;
        }
        let action_hit = self.actions.iter().any(|a| action_matches(a, req.action));
        if action_hit == self.not_action {
            return false;
        }
        let resource_hit = self
            .resources
            .iter()
            .any(|r| wildcard::matches(r, req.resource, false));
        if resource_hit == self.not_resource {
            return false;
        }
        self.conditions.iter().all(|c| c.holds(req))
    }

    fn is_public(&self) -> bool {
        if self.effect != Effect::Allow {
            return false;
        }
        let open_principal = match &self.principal {
            // Identity policies are attached to one user: never public.
            None => false,
            Some((Principals::Any, false)) => true,
            Some((Principals::Named(_), false)) => false,
            // NotPrincipal: everyone but the listed ones.
            Some((_, true)) => true,
        };
        if !open_principal {
            return false;
        }
        let bad = self.not_action
            || self.actions.iter().any(|a| {
                ACTIONS.iter().any(|(name, _)| {
                    let full = format!("s3:{name}");
                    action_matches(a, &full) && BAD_ACTIONS.iter().any(|b| action_matches(b, &full))
                })
            });
        if !bad {
            return false;
        }
        !self.conditions.iter().any(Condition::fixes_principal)
    }
}

impl Condition {
    /// Does this condition limit a statement to fixed callers?
    fn fixes_principal(&self) -> bool {
        if self.negated || self.if_exists || self.qualifier == Qualifier::ForAllValues {
            return false;
        }
        let fixed = |v: &String| !wildcard::has_wildcard(v) && !v.contains("${");
        match self.base {
            Base::IpAddress => {
                self.key == "aws:sourceip"
                    && self
                        .values
                        .iter()
                        .all(|v| condition::Cidr::parse(v).is_some_and(|c| c.prefix > 0))
            }
            Base::StringEquals | Base::ArnEquals | Base::StringEqualsIgnoreCase => {
                FIXING_KEYS.contains(&self.key.as_str()) && self.values.iter().all(fixed)
            }
            _ => false,
        }
    }
}
