//! Versioning: enabled and suspended buckets, delete markers, tags per
//! version, racing version deletes.

use crate::common::*;

#[tokio::test]
async fn versioning_enabled_suspended_and_delete_markers() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkv", "me").await.unwrap();
    let v0 = put(e, "bkv", "k", b"unversioned").await;
    assert_eq!(v0.version_id, "null");
    e.set_versioning("bkv", Versioning::Enabled).await.unwrap();
    let v1 = put(e, "bkv", "k", b"one").await;
    let v2 = put(e, "bkv", "k", b"two").await;
    assert_ne!(v1.version_id, v2.version_id);
    assert_eq!(get(e, "bkv", "k", GetOptions::default()).await, b"two");
    let old = GetOptions {
        version_id: Some(v1.version_id.clone()),
        ..Default::default()
    };
    assert_eq!(get(e, "bkv", "k", old).await, b"one");
    let null = GetOptions {
        version_id: Some("null".into()),
        ..Default::default()
    };
    assert_eq!(get(e, "bkv", "k", null).await, b"unversioned");

    let del = e.delete_object("bkv", "k", None).await.unwrap();
    assert!(del.delete_marker);
    assert!(matches!(
        e.head_object("bkv", "k", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    let listed = e
        .list_objects(
            "bkv",
            &ListParams {
                max_keys: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(listed.objects.is_empty(), "delete marker hides the key");
    let vs = e
        .list_versions(
            "bkv",
            &ListVersionsParams {
                max_keys: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let shape: Vec<_> = vs
        .versions
        .iter()
        .map(|v| (v.delete_marker, v.is_latest))
        .collect();
    assert_eq!(
        shape,
        [(true, true), (false, false), (false, false), (false, false)]
    );
    // removing the delete marker brings v2 back
    e.delete_object("bkv", "k", del.version_id.as_deref())
        .await
        .unwrap();
    assert_eq!(get(e, "bkv", "k", GetOptions::default()).await, b"two");
    // deleting the latest version promotes the previous one
    e.delete_object("bkv", "k", Some(&v2.version_id))
        .await
        .unwrap();
    assert_eq!(get(e, "bkv", "k", GetOptions::default()).await, b"one");

    // suspended: writes replace the null version, keep the others
    e.set_versioning("bkv", Versioning::Suspended)
        .await
        .unwrap();
    let s1 = put(e, "bkv", "k", b"s1").await;
    assert_eq!(s1.version_id, "null");
    put(e, "bkv", "k", b"s2").await;
    let vs = e
        .list_versions(
            "bkv",
            &ListVersionsParams {
                max_keys: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ids: Vec<_> = vs.versions.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(
        ids,
        ["null", v1.version_id.as_str()],
        "one null version, v1 kept"
    );
    assert_eq!(get(e, "bkv", "k", GetOptions::default()).await, b"s2");
    // version listing pagination with markers
    let p1 = e
        .list_versions(
            "bkv",
            &ListVersionsParams {
                max_keys: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(p1.is_truncated);
    let p2 = e
        .list_versions(
            "bkv",
            &ListVersionsParams {
                key_marker: p1.next_key_marker,
                version_id_marker: p1.next_version_id_marker,
                max_keys: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p2.versions[0].version_id, v1.version_id);
    assert!(!p2.versions[0].is_latest);
    assert!(matches!(
        e.set_versioning("nob", Versioning::Enabled).await,
        Err(Error::NoSuchBucket { .. })
    ));
}

#[tokio::test]
async fn suspending_a_never_versioned_bucket_makes_it_suspended() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bks", "me").await.unwrap();
    assert_eq!(e.bucket("bks").await.unwrap().versioning, Versioning::Off);
    let b = e
        .set_versioning("bks", Versioning::Suspended)
        .await
        .unwrap();
    assert_eq!(b.versioning, Versioning::Suspended);
    assert_eq!(put(e, "bks", "k", b"1").await.version_id, "null");
    put(e, "bks", "k", b"2").await;
    let vs = e
        .list_versions(
            "bks",
            &ListVersionsParams {
                max_keys: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(vs.versions.len(), 1, "one null version, replaced in place");
}

#[tokio::test]
async fn tags_live_with_each_version_and_leave_its_data() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkt", "me").await.unwrap();
    e.set_versioning("bkt", Versioning::Enabled).await.unwrap();
    let opts = |tags: &[(&str, &str)]| PutOptions {
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    let data = random(7, 3 * BS + 5);
    let v1 = e
        .put_object("bkt", "k", chunked(&data), opts(&[("gen", "1")]))
        .await
        .unwrap();
    let v2 = e
        .put_object("bkt", "k", chunked(b"two"), opts(&[]))
        .await
        .unwrap();
    assert_eq!((v1.tag_count, v2.tag_count), (1, 0));
    let new_tags = vec![
        ("a".to_owned(), "b".to_owned()),
        ("c".to_owned(), String::new()),
    ];
    let vid = e
        .set_object_tags("bkt", "k", Some(&v1.version_id), new_tags.clone())
        .await
        .unwrap();
    assert_eq!(vid, v1.version_id);
    let (_, got) = e
        .object_tags("bkt", "k", Some(&v1.version_id))
        .await
        .unwrap();
    assert_eq!(got, new_tags);
    assert_eq!(e.object_tags("bkt", "k", None).await.unwrap().1, vec![]);
    let old = GetOptions {
        version_id: Some(v1.version_id.clone()),
        ..Default::default()
    };
    assert_eq!(get(e, "bkt", "k", old).await, data, "data untouched");
    let h = e
        .head_object("bkt", "k", Some(&v1.version_id))
        .await
        .unwrap();
    assert_eq!((h.etag, h.tag_count, h.is_latest), (v1.etag, 2, false));
    // the current version: its copy under the latest pointer changes too
    e.set_object_tags("bkt", "k", None, new_tags).await.unwrap();
    assert_eq!(e.head_object("bkt", "k", None).await.unwrap().tag_count, 2);
    let listed = e
        .list_objects(
            "bkt",
            &ListParams {
                max_keys: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.objects[0].tag_count, 2);
    // a delete marker has no tags
    e.delete_object("bkt", "k", None).await.unwrap();
    assert!(matches!(
        e.object_tags("bkt", "k", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    assert!(matches!(
        e.set_object_tags("bkt", "k", None, vec![]).await,
        Err(Error::NoSuchKey { .. })
    ));
    let marker = e.version_info("bkt", "k", None).await.unwrap();
    assert!(marker.delete_marker && marker.is_latest);
}

/// Racing deletes of versions (and new delete markers) on the same keys
/// leave every key a well-formed chain: the latest pointer names the
/// newest remaining version. Deleting the latest version while another
/// request deletes the one below it used to leave the pointer naming a
/// removed version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_version_deletes_keep_chains_consistent() {
    let n = Node::new(1);
    let e = n.engine.clone();
    e.create_bucket("bkr", "me").await.unwrap();
    e.set_versioning("bkr", Versioning::Enabled).await.unwrap();
    let seed = 1313;
    println!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 0..6 {
        let mut ids = Vec::new();
        for k in 0..4 {
            for i in 0..4 {
                let v = put(
                    &e,
                    "bkr",
                    &format!("k{k}"),
                    format!("{round}-{i}").as_bytes(),
                )
                .await;
                ids.push((format!("k{k}"), v.version_id));
            }
        }
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let (key, vid) = ids[rng.gen_range(0..ids.len())].clone();
            let marker = rng.gen_bool(0.25);
            let e = e.clone();
            tasks.push(tokio::spawn(async move {
                let v = (!marker).then_some(vid);
                e.delete_object("bkr", &key, v.as_deref()).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let vs = e
            .list_versions(
                "bkr",
                &ListVersionsParams {
                    max_keys: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for k in 0..4 {
            let key = format!("k{k}");
            let chain: Vec<_> = vs.versions.iter().filter(|v| v.key == key).collect();
            let current = e.version_info("bkr", &key, None).await;
            match chain.first() {
                None => assert!(matches!(current, Err(Error::NoSuchKey { .. }))),
                Some(newest) => {
                    let current = current.unwrap();
                    assert_eq!(current.version_id, newest.version_id, "round {round} {key}");
                    assert_eq!(chain.iter().filter(|v| v.is_latest).count(), 1);
                    for v in &chain {
                        e.version_info("bkr", &key, Some(&v.version_id))
                            .await
                            .unwrap();
                    }
                }
            }
        }
    }
}
