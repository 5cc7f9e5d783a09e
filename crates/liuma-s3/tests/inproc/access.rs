//! Access control (issue #15) for requests signed by rusty-s3: a second
//! client next to the boto3 matrix (`tests/s3/test_access_matrix.py`),
//! through the same single decision. Users and identity policies are made
//! with the engine directly (the admin API is not in this harness).

use http::Method;

use crate::harness::{Client, Node, Req};

async fn user(node: &Node, name: &str) -> Client {
    node.engine.create_user(name).await.expect("user");
    let k = node.engine.create_key_for(name, "test").await.expect("key");
    Client::new(node.addr, &k.id, &k.secret)
}

fn put_policy<'a>(bucket: &'a str, policy: &str) -> Req<'a> {
    Req::new(Method::PUT, Some(bucket), None)
        .q("policy", "")
        .body(policy.to_owned())
}

#[tokio::test]
async fn owners_strangers_policies_and_acls() {
    let node = Node::start().await;
    let alice = user(&node, "alice").await;
    let bob = user(&node, "bob").await;
    let carol = user(&node, "carol").await;
    alice.create_bucket("alices").await.ok();
    alice.put("alices", "k", "v").await.ok();

    // A stranger can neither read nor change anything; nothing changes.
    bob.get("alices", "k").await.err(403, "AccessDenied");
    bob.list("alices", &[]).await.err(403, "AccessDenied");
    bob.put("alices", "k", "x").await.err(403, "AccessDenied");
    bob.delete("alices", "k").await.err(403, "AccessDenied");
    bob.send(put_policy("alices", "{}"))
        .await
        .err(403, "AccessDenied");
    assert_eq!(alice.get("alices", "k").await.ok().text(), "v");

    // A bucket policy grants carol reads of the objects, nothing else.
    let grant = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"AWS":["arn:aws:iam:::user/carol"]},"Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::alices/*"}]}"#;
    alice.send(put_policy("alices", grant)).await.ok();
    assert_eq!(carol.get("alices", "k").await.ok().text(), "v");
    carol.put("alices", "k", "x").await.err(403, "AccessDenied");
    carol.list("alices", &[]).await.err(403, "AccessDenied");
    bob.get("alices", "k").await.err(403, "AccessDenied");

    // A malformed policy is refused and the old one stays.
    alice
        .send(put_policy(
            "alices",
            r#"{"Version":"2012-10-17","Statement":[]}"#,
        ))
        .await
        .err(400, "MalformedPolicy");
    carol.get("alices", "k").await.ok();

    // An explicit Deny in the owner's own identity policy beats ownership.
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny",
        "Action":"s3:DeleteObject","Resource":"arn:aws:s3:::alices/*"}]}"#;
    node.engine
        .put_user_policy("alice", "no-delete", deny)
        .await
        .expect("policy");
    alice.delete("alices", "k").await.err(403, "AccessDenied");
    alice.get("alices", "k").await.ok();
    // Root stays all-powerful.
    node.client.delete("alices", "k").await.ok();

    // Anonymous: refused on the private bucket; an object with a
    // public-read ACL is readable by anyone while the bucket stays private.
    alice
        .send(
            Req::new(Method::PUT, Some("alices"), Some("pub"))
                .h("x-amz-acl", "public-read")
                .body("p"),
        )
        .await
        .ok();
    alice.put("alices", "private", "s").await.ok();
    let anon = |key: &'static str| Req::new(Method::GET, Some("alices"), Some(key));
    assert_eq!(alice.send_unsigned(anon("pub")).await.ok().text(), "p");
    alice
        .send_unsigned(anon("private"))
        .await
        .err(403, "AccessDenied");
    alice
        .send_unsigned(Req::new(Method::GET, Some("alices"), None))
        .await
        .err(403, "AccessDenied");
    alice
        .send_unsigned(Req::new(Method::PUT, Some("alices"), Some("defaced")).body("x"))
        .await
        .err(403, "AccessDenied");
    alice.get("alices", "defaced").await.err(404, "NoSuchKey");
}
