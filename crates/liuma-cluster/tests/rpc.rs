//! The internal shard API over a real socket: a signed client stores,
//! reads and deletes shards; a wrong secret can do none of it; HEAD and
//! unknown methods never delete; errors come back typed; a connection
//! whose certificate is revoked after it opened is refused on its next
//! request.

use std::sync::Arc;

use bytes::Bytes;
use liuma_cluster::rpc::{PeerClient, router};
use liuma_cluster::{Error, Signer};
use liuma_codec::{CodecParams, encode_block};
use liuma_disk::{DiskConfig, ShardStore};

async fn serve(secret: &[u8]) -> (String, Arc<ShardStore>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ShardStore::open(&[DiskConfig::new(dir.path().join("d0"))]).unwrap());
    let disk = store.disk_id(0).0.clone();
    let app = router(store.clone(), Arc::new(Signer::new(secret)), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, store, disk, dir)
}

fn shards() -> Vec<liuma_codec::Shard> {
    let params = CodecParams {
        data_shards: 2,
        parity_shards: 1,
        ..CodecParams::default()
    };
    let plain: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    encode_block(&params, Bytes::from(plain)).unwrap().shards
}

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn signed_client_puts_gets_and_deletes() {
    let (addr, store, disk, _dir) = serve(SECRET).await;
    let client = PeerClient::new(Arc::new(Signer::new(SECRET)));
    let s = &shards()[1];
    let id = s.header.block_id;
    client.put("n", &addr, &disk, s).await.unwrap();
    assert!(store.has_shard(0, &id, 1));
    let frame = client.get("n", &addr, &disk, &id, 1).await.unwrap();
    assert_eq!(frame, Bytes::from(s.to_frame()));
    let missing = client.get("n", &addr, &disk, &id, 2).await;
    assert!(matches!(missing, Err(Error::NotFound)), "{missing:?}");
    let unknown_disk = client.get("n", &addr, "nope", &id, 1).await;
    assert!(
        matches!(&unknown_disk, Err(Error::PeerNoSuchDisk { disk, .. }) if disk == "nope"),
        "{unknown_disk:?}"
    );
    assert!(
        unknown_disk.unwrap_err().is_not_found(),
        "a missing disk is a missing shard"
    );
    client.delete("n", &addr, &disk, &id, 1).await.unwrap();
    assert!(!store.has_shard(0, &id, 1));
}

#[tokio::test]
async fn wrong_secret_can_neither_write_read_nor_delete() {
    let (addr, store, disk, _dir) = serve(SECRET).await;
    let good = PeerClient::new(Arc::new(Signer::new(SECRET)));
    let bad = PeerClient::new(Arc::new(Signer::new(b"another secret, 32 bytes long!!!")));
    let all = shards();
    let id = all[0].header.block_id;
    let refused = |r: Result<(), Error>| match r {
        Err(Error::PeerUnauthorized { .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    };
    refused(bad.put("n", &addr, &disk, &all[0]).await);
    assert!(!store.has_shard(0, &id, 0), "nothing written");
    good.put("n", &addr, &disk, &all[0]).await.unwrap();
    match bad.get("n", &addr, &disk, &id, 0).await {
        Err(Error::PeerUnauthorized { .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    refused(bad.delete("n", &addr, &disk, &id, 0).await);
    assert!(store.has_shard(0, &id, 0), "nothing deleted");
}

/// A signed request with any method, sent raw: (status, body).
async fn raw(addr: &str, signer: &Signer, method: &str, path: &str) -> (u16, Bytes) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = signer
        .sign(method, path, b"")
        .apply(
            http::Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}")),
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn signed_head_checks_existence_and_deletes_nothing() {
    let (addr, store, disk, _dir) = serve(SECRET).await;
    let signer = Signer::new(SECRET);
    let client = PeerClient::new(Arc::new(Signer::new(SECRET)));
    let s = &shards()[0];
    let id = s.header.block_id;
    client.put("n", &addr, &disk, s).await.unwrap();
    let path = format!("/v1/shard/{disk}/{}/0", id.to_hex());
    // What `curl -I` with a valid signature sends: it used to reach the delete branch.
    let (status, _) = raw(&addr, &signer, "HEAD", &path).await;
    assert_eq!(status, 200);
    assert!(store.has_shard(0, &id, 0), "HEAD must not delete the shard");
    assert!(client.exists("n", &addr, &disk, &id, 0).await.unwrap());
    assert!(!client.exists("n", &addr, &disk, &id, 1).await.unwrap());
    assert!(
        store.has_shard(0, &id, 0),
        "still there after the client's HEAD"
    );
    let frame = client.get("n", &addr, &disk, &id, 0).await.unwrap();
    assert_eq!(frame, Bytes::from(s.to_frame()), "and intact");
}

#[tokio::test]
async fn unknown_methods_get_405_and_delete_nothing() {
    let (addr, store, disk, _dir) = serve(SECRET).await;
    let signer = Signer::new(SECRET);
    let client = PeerClient::new(Arc::new(Signer::new(SECRET)));
    let s = &shards()[0];
    let id = s.header.block_id;
    client.put("n", &addr, &disk, s).await.unwrap();
    let path = format!("/v1/shard/{disk}/{}/0", id.to_hex());
    for method in ["POST", "PATCH", "OPTIONS", "PURGE"] {
        let (status, body) = raw(&addr, &signer, method, &path).await;
        assert_eq!(status, 405, "{method}");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "MethodNotAllowed", "{method}: {body}");
        assert!(
            store.has_shard(0, &id, 0),
            "{method} must not delete the shard"
        );
    }
}

#[tokio::test]
async fn server_errors_come_back_typed() {
    let (addr, _store, disk, _dir) = serve(SECRET).await;
    let signer = Signer::new(SECRET);
    let client = PeerClient::new(Arc::new(Signer::new(SECRET)));
    let id = shards()[0].header.block_id;
    let path = format!("/v1/shard/{disk}/{}/7", id.to_hex());
    let (status, body) = raw(&addr, &signer, "GET", &path).await;
    assert_eq!(status, 404);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "NotFound", "{body}");
    let bad_block = format!("/v1/shard/{disk}/not-hex/0");
    let (status, body) = raw(&addr, &signer, "GET", &bad_block).await;
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "BadRequest", "{body}");
    let missing = client.get("n", &addr, &disk, &id, 7).await;
    assert!(matches!(missing, Err(Error::NotFound)), "{missing:?}");
}

/// Refuses node n9 once `revoked` is set (a revocation arriving while a
/// connection is open).
struct FlipCheck(std::sync::atomic::AtomicBool);

impl liuma_cluster::PeerCheck for FlipCheck {
    fn generation(&self) -> u64 {
        0
    }
    fn check(
        &self,
        peer: &liuma_cluster::CertIdentity,
        _now_ms: u64,
    ) -> Result<(), liuma_cluster::Refusal> {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) && peer.node.as_deref() == Some("n9") {
            Err(liuma_cluster::Refusal::NodeRevoked { node: "n9".into() })
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn every_request_is_checked_against_the_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ShardStore::open(&[DiskConfig::new(dir.path().join("d0"))]).unwrap());
    let disk = store.disk_id(0).0.clone();
    let check = Arc::new(FlipCheck(std::sync::atomic::AtomicBool::new(false)));
    let gated = router(
        store.clone(),
        Arc::new(Signer::new(SECRET)),
        Some(check.clone() as Arc<dyn liuma_cluster::PeerCheck>),
    );
    // what the TLS listener does for a connection with n9's certificate
    let n9 = liuma_cluster::PeerCert(Arc::new(liuma_cluster::CertIdentity {
        node: Some("n9".into()),
        not_before_ms: 0,
        not_after_ms: u64::MAX,
        fingerprint: [9; 32],
    }));
    let with_cert = gated.clone().layer(axum::Extension(n9));
    let listen = |app: axum::Router| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    };
    let (addr, bare) = (listen(with_cert).await, listen(gated).await);
    let client = PeerClient::new(Arc::new(Signer::new(SECRET)));
    let s = &shards()[0];
    client.put("n9", &addr, &disk, s).await.unwrap();
    // revoked while the client's pooled connection is open: refused on it
    check.0.store(true, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..2 {
        match client
            .get("n9", &addr, &disk, &s.header.block_id, s.header.index)
            .await
        {
            Err(Error::PeerCertRefused { node, message }) => {
                assert_eq!(node, "n9");
                assert!(message.contains("node n9 is revoked"), "{message}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    // no certificate at all (not TLS): refused before anything else
    match client.put("n9", &bare, &disk, s).await {
        Err(Error::PeerCertRefused { message, .. }) => {
            assert!(message.contains("no client certificate"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
