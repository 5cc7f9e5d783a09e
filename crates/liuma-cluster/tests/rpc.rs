//! The internal shard API over a real socket: a signed client stores,
//! reads and deletes shards; a wrong secret can do none of it.

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
    let app = router(store.clone(), Arc::new(Signer::new(secret)));
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
        matches!(unknown_disk, Err(Error::NotFound)),
        "{unknown_disk:?}"
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
        Err(Error::Peer { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    };
    refused(bad.put("n", &addr, &disk, &all[0]).await);
    assert!(!store.has_shard(0, &id, 0), "nothing written");
    good.put("n", &addr, &disk, &all[0]).await.unwrap();
    match bad.get("n", &addr, &disk, &id, 0).await {
        Err(Error::Peer { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    refused(bad.delete("n", &addr, &disk, &id, 0).await);
    assert!(store.has_shard(0, &id, 0), "nothing deleted");
}
