//! Policy parsing, evaluation, "public" and authorize tests, unit and
//! property (proptest) ones.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::*;

const B: PolicyKind<'static> = PolicyKind::Bucket { bucket: "site" };

fn alice() -> Principal<'static> {
    Principal::User {
        name: "alice",
        canonical_id: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    }
}

fn bob() -> Principal<'static> {
    Principal::User {
        name: "bob",
        canonical_id: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    }
}

fn eval(p: &Policy, who: Principal<'_>, action: &str, resource: &str, cx: &Context) -> Decision {
    p.evaluate(&Request {
        principal: who,
        action,
        resource,
        context: cx,
    })
}

fn parse_err(text: &str, kind: PolicyKind<'_>) -> String {
    match Policy::parse(text, kind) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => {
            assert_eq!(e.s3_code(), "MalformedPolicy");
            e.to_string()
        }
    }
}

fn stmt(body: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#)
}

#[test]
fn public_read_policy() {
    let text = stmt(
        r#"{"Sid":"r","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}"#,
    );
    let p = Policy::parse(&text, B).expect("valid");
    let cx = Context::default();
    let anon = Principal::Anonymous;
    assert_eq!(
        eval(&p, anon, "s3:GetObject", "arn:aws:s3:::site/a/b.html", &cx),
        Decision::Allow
    );
    assert_eq!(
        eval(&p, anon, "s3:getobject", "arn:aws:s3:::site/x", &cx),
        Decision::Allow
    );
    assert_eq!(
        eval(&p, anon, "s3:PutObject", "arn:aws:s3:::site/x", &cx),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, anon, "s3:GetObject", "arn:aws:s3:::other/x", &cx),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, anon, "s3:ListBucket", "arn:aws:s3:::site", &cx),
        Decision::NotApplicable
    );
    assert!(p.is_public());
}

#[test]
fn statement_as_object_and_principal_forms() {
    let text = r#"{"Id":"x","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/alice","bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"]},"Action":["s3:List*"],"Resource":"arn:aws:s3:::site"}}"#;
    let p = Policy::parse(text, B).expect("valid");
    let cx = Context::default();
    let r = "arn:aws:s3:::site";
    assert_eq!(eval(&p, alice(), "s3:ListBucket", r, &cx), Decision::Allow);
    assert_eq!(
        eval(&p, bob(), "s3:ListBucketVersions", r, &cx),
        Decision::Allow
    );
    let carol = Principal::User {
        name: "carol",
        canonical_id: "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
    };
    assert_eq!(
        eval(&p, carol, "s3:ListBucket", r, &cx),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, Principal::Anonymous, "s3:ListBucket", r, &cx),
        Decision::NotApplicable
    );
    assert!(!p.is_public());
    assert_eq!(
        p.named_principals(),
        vec![
            "alice",
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
        ]
    );
    let text = stmt(
        r#"{"Effect":"Allow","Principal":{"CanonicalUser":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"Action":"s3:*","Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"]}"#,
    );
    let p = Policy::parse(&text, B).expect("valid");
    assert_eq!(
        eval(&p, alice(), "s3:DeleteObject", "arn:aws:s3:::site/k", &cx),
        Decision::Allow
    );
    assert_eq!(
        eval(&p, bob(), "s3:DeleteObject", "arn:aws:s3:::site/k", &cx),
        Decision::NotApplicable
    );
}

#[test]
fn not_principal_not_action_not_resource() {
    let text = stmt(
        r#"{"Effect":"Deny","NotPrincipal":{"AWS":"alice"},"NotAction":"s3:Get*","NotResource":"arn:aws:s3:::site/public/*"}"#,
    );
    let p = Policy::parse(&text, B).expect("valid");
    let cx = Context::default();
    assert_eq!(
        eval(&p, bob(), "s3:PutObject", "arn:aws:s3:::site/k", &cx),
        Decision::Deny
    );
    assert_eq!(
        eval(&p, alice(), "s3:PutObject", "arn:aws:s3:::site/k", &cx),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, bob(), "s3:GetObject", "arn:aws:s3:::site/k", &cx),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(&p, bob(), "s3:PutObject", "arn:aws:s3:::site/public/k", &cx),
        Decision::NotApplicable
    );
    assert_eq!(
        eval(
            &p,
            Principal::Anonymous,
            "s3:PutObject",
            "arn:aws:s3:::site/k",
            &cx
        ),
        Decision::Deny
    );
}

#[test]
fn malformed_policies_name_the_problem() {
    let ok_rest = r#""Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*""#;
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "This policy contains invalid Json"),
        ("[]".into(), "This policy contains invalid Json"),
        (
            r#"{"Version":"2012-10-17"}"#.into(),
            "Missing required field Statement",
        ),
        (
            r#"{"Statement":[]}"#.into(),
            "Could not parse the policy: Statement is empty!",
        ),
        (
            format!(r#"{{"Version":"2011-01-01","Statement":{{"Effect":"Allow",{ok_rest}}}}}"#),
            "The policy must contain a valid version string",
        ),
        (
            format!(r#"{{"Foo":1,"Statement":{{"Effect":"Allow",{ok_rest}}}}}"#),
            "Unknown field Foo",
        ),
        (
            stmt(&format!(r#"{{{ok_rest}}}"#)),
            "Missing required field Effect",
        ),
        (
            stmt(&format!(r#"{{"Effect":"Maybe",{ok_rest}}}"#)),
            "Invalid effect: Maybe",
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}"#),
            "Missing required field Principal",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":{"AWS":"bad user!"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}"#,
            ),
            "Invalid principal in policy",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}"#,
            ),
            "Invalid principal in policy",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:user/a*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}"#,
            ),
            "Invalid principal in policy",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObjectt","Resource":"arn:aws:s3:::site/*"}"#,
            ),
            "Policy has invalid action",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"iam:*","Resource":"arn:aws:s3:::site/*"}"#,
            ),
            "Policy has invalid action",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":[],"Resource":"arn:aws:s3:::site/*"}"#,
            ),
            "Policy has invalid action",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::site/*"}"#),
            "Missing required field Action",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}"#,
            ),
            "Policy has invalid resource",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::sitex/*"}"#,
            ),
            "Policy has invalid resource",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#),
            "Policy has invalid resource",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site"}"#,
            ),
            "Action does not apply to any resource(s) in statement",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::site/*"}"#,
            ),
            "Action does not apply to any resource(s) in statement",
        ),
        (
            stmt(&format!(
                r#"{{"Effect":"Allow",{ok_rest},"Condition":{{"StringFoo":{{"s3:prefix":"a"}}}}}}"#
            )),
            "Invalid Condition type : StringFoo",
        ),
        (
            stmt(&format!(
                r#"{{"Effect":"Allow",{ok_rest},"Condition":{{"IpAddress":{{"aws:SourceIp":"1.2.3.4/40"}}}}}}"#
            )),
            "Invalid Condition value for IpAddress: 1.2.3.4/40",
        ),
        (
            stmt(&format!(
                r#"{{"Effect":"Allow",{ok_rest},"Condition":{{"NumericLessThan":{{"s3:max-keys":"ten"}}}}}}"#
            )),
            "Invalid Condition value for NumericLessThan: ten",
        ),
        (
            stmt(&format!(
                r#"{{"Effect":"Allow",{ok_rest},"Condition":{{"StringEquals":{{"foo":"a"}}}}}}"#
            )),
            "Policy has an invalid condition key",
        ),
        (
            stmt(&format!(
                r#"{{"Sid":"a","Effect":"Allow",{ok_rest}}},{{"Sid":"a","Effect":"Allow",{ok_rest}}}"#
            )),
            "Statement IDs (SID) in a single policy must be unique",
        ),
        (
            stmt(&format!(r#"{{"Effect":"Allow",{ok_rest},"Bogus":1}}"#)),
            "Unknown field Bogus",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(&text, B), want, "{text}");
    }
}

#[test]
fn identity_policies() {
    let text =
        stmt(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}"#);
    let p = Policy::parse(&text, PolicyKind::Identity).expect("valid");
    let cx = Context::default();
    assert_eq!(
        eval(&p, alice(), "s3:GetObject", "arn:aws:s3:::site/k", &cx),
        Decision::Allow
    );
    assert_eq!(
        eval(&p, alice(), "s3:GetObject", "arn:aws:s3:::other/k", &cx),
        Decision::NotApplicable
    );
    assert!(!p.is_public());
    // Any bucket may be named; `*` is fine.
    let text = stmt(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#);
    let p = Policy::parse(&text, PolicyKind::Identity).expect("valid");
    assert_eq!(
        eval(&p, alice(), "s3:ListAllMyBuckets", "*", &cx),
        Decision::Allow
    );
    let text = stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}"#);
    assert_eq!(
        parse_err(&text, PolicyKind::Identity),
        "Policy document should not specify a principal."
    );
}

fn cond_policy(cond: &str) -> Policy {
    let text = stmt(&format!(
        r#"{{"Effect":"Allow","Principal":"*","Action":["s3:ListBucket","s3:GetObject"],"Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"],"Condition":{cond}}}"#
    ));
    Policy::parse(&text, B).unwrap_or_else(|e| panic!("{cond}: {e}"))
}

fn cx_with(kv: &[(&str, &[&str])]) -> Context {
    Context {
        values: kv
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect::<BTreeMap<_, _>>(),
        ..Context::default()
    }
}

fn allows(p: &Policy, cx: &Context) -> bool {
    eval(
        p,
        Principal::Anonymous,
        "s3:ListBucket",
        "arn:aws:s3:::site",
        cx,
    ) == Decision::Allow
}

#[test]
fn string_conditions() {
    let p = cond_policy(r#"{"StringEquals":{"s3:prefix":["home/","docs/"]}}"#);
    assert!(allows(&p, &cx_with(&[("s3:prefix", &["docs/"])])));
    assert!(!allows(&p, &cx_with(&[("s3:prefix", &["Docs/"])])));
    assert!(
        !allows(&p, &Context::default()),
        "absent key fails a positive operator"
    );
    let p = cond_policy(r#"{"StringNotEquals":{"s3:prefix":"secret/"}}"#);
    assert!(allows(&p, &cx_with(&[("s3:prefix", &["docs/"])])));
    assert!(!allows(&p, &cx_with(&[("s3:prefix", &["secret/"])])));
    assert!(
        allows(&p, &Context::default()),
        "absent key satisfies a negated operator"
    );
    let p = cond_policy(r#"{"StringEqualsIgnoreCase":{"s3:prefix":"DOCS/"}}"#);
    assert!(allows(&p, &cx_with(&[("s3:prefix", &["docs/"])])));
    let p = cond_policy(r#"{"StringLike":{"s3:prefix":"home/?/*"}}"#);
    assert!(allows(&p, &cx_with(&[("s3:prefix", &["home/a/x/y"])])));
    assert!(!allows(&p, &cx_with(&[("s3:prefix", &["home/ab/x"])])));
    let p = cond_policy(r#"{"StringNotLike":{"s3:prefix":"private*"}}"#);
    assert!(!allows(&p, &cx_with(&[("s3:prefix", &["private/x"])])));
    assert!(allows(&p, &cx_with(&[("s3:prefix", &["pub"])])));
    let p = cond_policy(r#"{"StringEqualsIfExists":{"s3:prefix":"a"}}"#);
    assert!(allows(&p, &Context::default()));
    assert!(!allows(&p, &cx_with(&[("s3:prefix", &["b"])])));
    // Condition keys are case-insensitive.
    let p = cond_policy(r#"{"StringEquals":{"S3:Prefix":"a"}}"#);
    assert!(allows(&p, &cx_with(&[("s3:prefix", &["a"])])));
}

#[test]
fn set_qualifiers_and_null() {
    let p = cond_policy(r#"{"ForAnyValue:StringEquals":{"s3:x-tags":["a","b"]}}"#);
    assert!(allows(&p, &cx_with(&[("s3:x-tags", &["z", "b"])])));
    assert!(!allows(&p, &cx_with(&[("s3:x-tags", &["z"])])));
    assert!(!allows(&p, &Context::default()));
    let p = cond_policy(r#"{"ForAllValues:StringEquals":{"s3:x-tags":["a","b"]}}"#);
    assert!(allows(&p, &cx_with(&[("s3:x-tags", &["a", "b"])])));
    assert!(!allows(&p, &cx_with(&[("s3:x-tags", &["a", "z"])])));
    assert!(
        allows(&p, &Context::default()),
        "ForAllValues holds for an absent key"
    );
    let p = cond_policy(r#"{"Null":{"s3:prefix":"true"}}"#);
    assert!(allows(&p, &Context::default()));
    assert!(!allows(&p, &cx_with(&[("s3:prefix", &["a"])])));
    let p = cond_policy(r#"{"Null":{"s3:prefix":false}}"#);
    assert!(!allows(&p, &Context::default()));
}

#[test]
fn ip_bool_numeric_date_conditions() {
    let p = cond_policy(
        r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]},"NotIpAddress":{"aws:SourceIp":"10.9.0.0/16"}}"#,
    );
    let at = |ip: &str| Context {
        source_ip: Some(ip.parse().expect("ip")),
        ..Context::default()
    };
    assert!(allows(&p, &at("10.1.2.3")));
    assert!(!allows(&p, &at("10.9.2.3")));
    assert!(allows(&p, &at("2001:db8::5")));
    assert!(!allows(&p, &at("192.168.0.1")));
    assert!(!allows(&p, &Context::default()));
    assert!(!p.is_public(), "limited to CIDRs: not public");

    let p = cond_policy(r#"{"Bool":{"aws:SecureTransport":"true"}}"#);
    assert!(!allows(&p, &Context::default()));
    let tls = Context {
        secure_transport: true,
        ..Context::default()
    };
    assert!(allows(&p, &tls));
    assert!(p.is_public());

    let p = cond_policy(r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#);
    assert!(allows(&p, &cx_with(&[("s3:max-keys", &["10"])])));
    assert!(!allows(&p, &cx_with(&[("s3:max-keys", &["11"])])));
    assert!(!allows(&p, &cx_with(&[("s3:max-keys", &["lots"])])));
    let p = cond_policy(
        r#"{"NumericGreaterThan":{"s3:max-keys":5},"NumericNotEquals":{"s3:max-keys":7}}"#,
    );
    assert!(allows(&p, &cx_with(&[("s3:max-keys", &["6"])])));
    assert!(!allows(&p, &cx_with(&[("s3:max-keys", &["7"])])));
    assert!(!allows(&p, &cx_with(&[("s3:max-keys", &["5"])])));

    let p = cond_policy(
        r#"{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2026-12-31"}}"#,
    );
    let when = |ms: u64| Context {
        current_time_ms: ms,
        ..Context::default()
    };
    assert!(allows(&p, &when(1_780_000_000_000))); // 2026-05
    assert!(!allows(&p, &when(1_700_000_000_000))); // 2023
    assert!(!allows(&p, &when(1_800_000_000_000))); // 2027
}

#[test]
fn explicit_deny_wins_and_is_public() {
    let text = stmt(
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::site/*"},
           {"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::site/*"}"#,
    );
    let p = Policy::parse(&text, B).expect("valid");
    let cx = Context::default();
    assert_eq!(
        eval(&p, alice(), "s3:PutObject", "arn:aws:s3:::site/k", &cx),
        Decision::Allow
    );
    assert_eq!(
        eval(&p, alice(), "s3:DeleteObject", "arn:aws:s3:::site/k", &cx),
        Decision::Deny
    );
    assert!(p.is_public());
    // A fixed principal or a fixing condition makes it non-public.
    let fixed = stmt(
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}}"#,
    );
    assert!(!Policy::parse(&fixed, B).expect("valid").is_public());
    let wild = stmt(
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*","Condition":{"StringLike":{"aws:SourceVpce":"vpce-*"}}}"#,
    );
    assert!(Policy::parse(&wild, B).expect("valid").is_public());
    let all_ips = stmt(
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}"#,
    );
    assert!(Policy::parse(&all_ips, B).expect("valid").is_public());
    let deny_only = stmt(
        r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::site/*"}"#,
    );
    assert!(!Policy::parse(&deny_only, B).expect("valid").is_public());
    let not_principal = stmt(
        r#"{"Effect":"Allow","NotPrincipal":{"AWS":"alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}"#,
    );
    assert!(Policy::parse(&not_principal, B).expect("valid").is_public());
}

fn user_acl(owner: &str) -> CanonicalUser {
    CanonicalUser {
        id: owner.repeat(64),
        display_name: owner.to_owned(),
    }
}

fn inputs<'a>(
    policies: &'a [Policy],
    bucket: Option<&'a Policy>,
    acl: Option<&'a Acl>,
) -> Inputs<'a> {
    Inputs {
        principal: Principal::Anonymous,
        is_root: false,
        bucket_owner: Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        identity_policies: policies,
        bucket_policy: bucket,
        bucket_acl: acl,
        object_acl: None,
        public_access_block: PublicAccessBlock::default(),
        ownership: ObjectOwnership::ObjectWriter,
    }
}

fn req<'a>(
    who: Principal<'a>,
    op: &str,
    resource: &'a str,
    cx: &'a Context,
) -> (Request<'a>, Option<AclNeed>) {
    let o = operation(op).expect("known op");
    (
        Request {
            principal: who,
            action: o.action,
            resource,
            context: cx,
        },
        o.acl,
    )
}

#[test]
fn authorize_access_model() {
    let cx = Context::default();
    let obj = "arn:aws:s3:::site/k";
    let deny_delete = Policy::parse(
        &stmt(r#"{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::site/*"}"#),
        B,
    )
    .expect("valid");
    let public_read = Policy::parse(
        &stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}"#),
        B,
    )
    .expect("valid");
    let bob_get = Policy::parse(
        &stmt(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}"#),
        PolicyKind::Identity,
    )
    .expect("valid");
    let bob_deny = Policy::parse(
        &stmt(r#"{"Effect":"Deny","Action":"s3:*","Resource":"*"}"#),
        PolicyKind::Identity,
    )
    .expect("valid");

    // Owner: everything, unless the bucket policy denies; root: always.
    let mut i = inputs(&[], Some(&deny_delete), None);
    let (r, a) = req(alice(), "PutObject", obj, &cx);
    i.principal = alice();
    assert_eq!(authorize(&i, &r, a), Verdict::Allow);
    let (r, a) = req(alice(), "DeleteObject", obj, &cx);
    assert!(matches!(authorize(&i, &r, a), Verdict::Deny { .. }));
    i.is_root = true;
    assert_eq!(authorize(&i, &r, a), Verdict::Allow);

    // Another user: nothing without a grant; an identity policy grants;
    // its own Deny beats the bucket policy's Allow.
    let (r, a) = req(bob(), "GetObject", obj, &cx);
    let i = inputs(&[], None, None);
    assert!(matches!(authorize(&i, &r, a), Verdict::Deny { .. }));
    let pols = [bob_get];
    let i = inputs(&pols, None, None);
    assert_eq!(authorize(&i, &r, a), Verdict::Allow);
    let pols = [bob_deny];
    let i = inputs(&pols, Some(&public_read), None);
    assert!(matches!(authorize(&i, &r, a), Verdict::Deny { .. }));

    // Anonymous: the public policy allows; identity policies are ignored;
    // RestrictPublicBuckets takes it away from anonymous only.
    let (ra, aa) = req(Principal::Anonymous, "GetObject", obj, &cx);
    let mut i = inputs(&[], Some(&public_read), None);
    assert_eq!(authorize(&i, &ra, aa), Verdict::Allow);
    i.public_access_block.restrict_public_buckets = true;
    assert!(matches!(authorize(&i, &ra, aa), Verdict::Deny { .. }));
    let (rb, ab) = req(bob(), "GetObject", obj, &cx);
    assert_eq!(authorize(&i, &rb, ab), Verdict::Allow);

    // ACLs: bucket ACL READ lists; IgnorePublicAcls and BucketOwnerEnforced
    // take public grants away.
    let owner = user_acl("a");
    let acl = CannedAcl::PublicRead.to_acl(&owner, &owner);
    let (rl, al) = req(
        Principal::Anonymous,
        "ListObjectsV2",
        "arn:aws:s3:::site",
        &cx,
    );
    let mut i = inputs(&[], None, Some(&acl));
    assert_eq!(authorize(&i, &rl, al), Verdict::Allow);
    let (rp, ap) = req(Principal::Anonymous, "PutObject", obj, &cx);
    assert!(matches!(authorize(&i, &rp, ap), Verdict::Deny { .. }));
    i.public_access_block.ignore_public_acls = true;
    assert!(matches!(authorize(&i, &rl, al), Verdict::Deny { .. }));
    i.public_access_block.ignore_public_acls = false;
    i.ownership = ObjectOwnership::BucketOwnerEnforced;
    assert!(matches!(authorize(&i, &rl, al), Verdict::Deny { .. }));
    // Object ACL for GetObject.
    let mut i = inputs(&[], None, None);
    i.object_acl = Some(&acl);
    assert_eq!(authorize(&i, &ra, aa), Verdict::Allow);
    // No operation-level ACL grant: an ACL never allows DeleteBucket.
    let (rd, ad) = req(bob(), "DeleteBucket", "arn:aws:s3:::site", &cx);
    let full = CannedAcl::PublicReadWrite.to_acl(&owner, &owner);
    let i = inputs(&[], None, Some(&full));
    assert!(matches!(authorize(&i, &rd, ad), Verdict::Deny { .. }));
}

// ---- property tests ----

fn action_strategy() -> impl Strategy<Value = String> {
    // Bucket and object actions (account-level ones have no bucket resource).
    let names: Vec<String> = crate::ops::ACTIONS
        .iter()
        .filter(|(_, l)| *l != crate::ops::Level::Account)
        .map(|(n, _)| format!("s3:{n}"))
        .collect();
    prop::sample::select(names)
}

fn key_strategy() -> impl Strategy<Value = String> {
    "[a-z/]{0,12}"
}

proptest! {
    /// Adding a Deny statement for an action/resource makes any request
    /// it covers Deny, whatever Allow statements say.
    #[test]
    fn explicit_deny_always_wins(
        action in action_strategy(),
        key in key_strategy(),
        allow_actions in prop::collection::vec(prop::sample::select(vec!["s3:*", "s3:Get*", "s3:Put*", "*", "s3:List*"]), 1..4),
    ) {
        let resource = format!("arn:aws:s3:::site/{key}");
        let allow = format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":{},"Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"]}}"#,
            serde_json::to_string(&allow_actions).expect("json")
        );
        let deny = format!(
            r#"{{"Effect":"Deny","Principal":{{"AWS":"*"}},"Action":"{action}","Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"]}}"#
        );
        for order in [format!("{allow},{deny}"), format!("{deny},{allow}")] {
            let text = stmt(&order);
            let p = Policy::parse(&text, B).expect("valid");
            let cx = Context::default();
            for who in [Principal::Anonymous, alice()] {
                prop_assert_eq!(eval(&p, who, &action, &resource, &cx), Decision::Deny);
                prop_assert_eq!(eval(&p, who, &action, "arn:aws:s3:::site", &cx), Decision::Deny);
            }
        }
    }

    /// A policy whose statements are all Deny, or that grants nothing the
    /// request asks for, never allows: authorize denies a non-owner.
    #[test]
    fn grant_nothing_denies_everything(
        action in action_strategy(),
        key in key_strategy(),
        anonymous in any::<bool>(),
    ) {
        let p = Policy::parse(
            &stmt(r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetBucketTagging","Resource":"arn:aws:s3:::site"}"#),
            B,
        ).expect("valid");
        let cx = Context::default();
        let resource = format!("arn:aws:s3:::site/{key}");
        let who = if anonymous { Principal::Anonymous } else { bob() };
        prop_assert_ne!(eval(&p, who, &action, &resource, &cx), Decision::Allow);
        let i = Inputs { principal: who, ..inputs(&[], Some(&p), None) };
        let r = Request { principal: who, action: &action, resource: &resource, context: &cx };
        let denied = matches!(authorize(&i, &r, None), Verdict::Deny { .. });
        prop_assert!(denied);
    }

    /// `*` in a resource matches across `/`; `?` matches exactly one
    /// character (a `/` too, but never zero or two).
    #[test]
    fn resource_wildcards(prefix in "[a-z]{1,5}", rest in "[a-z/]{0,10}", one in "[a-z/]", two in "[a-z/]{2}") {
        let cx = Context::default();
        let policy = |res: &str| Policy::parse(
            &stmt(&format!(r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/{res}"}}"#)),
            B,
        ).expect("valid");
        let star = policy(&format!("{prefix}*"));
        let r = format!("arn:aws:s3:::site/{prefix}{rest}");
        prop_assert_eq!(eval(&star, alice(), "s3:GetObject", &r, &cx), Decision::Allow);
        let q = policy(&format!("{prefix}?"));
        let hit = format!("arn:aws:s3:::site/{prefix}{one}");
        let miss2 = format!("arn:aws:s3:::site/{prefix}{two}");
        let miss0 = format!("arn:aws:s3:::site/{prefix}");
        prop_assert_eq!(eval(&q, alice(), "s3:GetObject", &hit, &cx), Decision::Allow);
        prop_assert_eq!(eval(&q, alice(), "s3:GetObject", &miss2, &cx), Decision::NotApplicable);
        prop_assert_eq!(eval(&q, alice(), "s3:GetObject", &miss0, &cx), Decision::NotApplicable);
        // A resource in a bucket whose name merely starts like this one never matches.
        let other = format!("arn:aws:s3:::sitex/{prefix}{rest}");
        prop_assert_eq!(eval(&star, alice(), "s3:GetObject", &other, &cx), Decision::NotApplicable);
    }

    /// An action wildcard never matches an action of another service.
    #[test]
    fn action_wildcards_stay_in_service(
        pat in prop::sample::select(vec!["s3:*", "s3:*Object*", "s3:?etObject", "s3:Get*", "S3:*"]),
        svc in prop::sample::select(vec!["iam", "ec2", "s3x", "xs3", "sts", "kms"]),
        name in "[A-Za-z]{1,12}",
    ) {
        let p = Policy::parse(
            &stmt(&format!(r#"{{"Effect":"Allow","Principal":"*","Action":"{pat}","Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"]}}"#)),
            B,
        ).expect("valid");
        let cx = Context::default();
        let action = format!("{svc}:{name}");
        prop_assert_eq!(eval(&p, alice(), &action, "arn:aws:s3:::site/k", &cx), Decision::NotApplicable);
    }

    /// A bucket policy can't name another bucket's resources.
    #[test]
    fn bucket_policy_stays_in_its_bucket(other in "[a-z0-9][a-z0-9.-]{2,20}", path in "(/[a-z*]{0,6})?") {
        prop_assume!(other != "site");
        let text = stmt(&format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::{other}{path}"}}"#
        ));
        prop_assert_eq!(
            Policy::parse(&text, B).map(|_| ()).map_err(|e| e.to_string()),
            Err("Policy has invalid resource".to_owned())
        );
    }
}
