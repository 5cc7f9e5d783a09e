//! ListObjectsV2: prefix, delimiter, pagination.

use crate::harness::Node;

async fn fill(node: &Node, bucket: &str, keys: &[&str]) {
    node.client.create_bucket(bucket).await.ok();
    for k in keys {
        node.client.put(bucket, k, k.to_string()).await.ok();
    }
}

#[tokio::test]
async fn prefix_and_delimiter() {
    let node = Node::start().await;
    let keys = ["a/1", "a/2", "a/b/3", "b/4", "top"];
    fill(&node, "lst", &keys).await;
    let c = &node.client;
    let all = c.list("lst", &[]).await.ok();
    assert_eq!(all.xml("Key"), keys);
    assert_eq!(all.xml("KeyCount"), vec!["5"]);
    let r = c.list("lst", &[("delimiter", "/")]).await.ok();
    assert_eq!(r.xml("Key"), vec!["top"]);
    assert_eq!(r.xml("Prefix")[1..], ["a/", "b/"]);
    let r = c
        .list("lst", &[("prefix", "a/"), ("delimiter", "/")])
        .await
        .ok();
    assert_eq!(r.xml("Key"), vec!["a/1", "a/2"]);
    assert_eq!(r.xml("Prefix")[1..], ["a/b/"]);
    let r = c.list("lst", &[("prefix", "zzz")]).await.ok();
    assert!(r.xml("Key").is_empty());
    assert_eq!(r.xml("KeyCount"), vec!["0"]);
}

#[tokio::test]
async fn pagination_visits_every_key_once() {
    let node = Node::start().await;
    let keys: Vec<String> = (0..11).map(|i| format!("k{i:02}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    fill(&node, "pages", &refs).await;
    let c = &node.client;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let mut params = vec![("max-keys", "4".to_owned())];
        if let Some(t) = &token {
            params.push(("continuation-token", t.clone()));
        }
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = c.list("pages", &p).await.ok();
        seen.extend(r.xml("Key"));
        token = r.xml("NextContinuationToken").into_iter().next();
        let truncated = r.xml("IsTruncated") == vec!["true"];
        assert_eq!(truncated, token.is_some());
        if !truncated {
            break;
        }
    }
    assert_eq!(seen, keys);
    // start-after skips up to and including the key.
    let r = c.list("pages", &[("start-after", "k08")]).await.ok();
    assert_eq!(r.xml("Key"), vec!["k09", "k10"]);
}

#[tokio::test]
async fn negative_max_keys_is_refused() {
    let node = Node::start().await;
    fill(&node, "lst", &["a"]).await;
    node.client
        .list("lst", &[("max-keys", "-1")])
        .await
        .err(400, "InvalidArgument");
}
