//! Server-side encryption in a cluster (issue #19): the SSE-S3 master key
//! made by the first node is shared through etcd (sealed under the cluster
//! secret), so an object encrypted through one node reads back through
//! another, and no node's shards hold its plaintext.

use super::common::*;

#[test]
fn sse_s3_object_written_on_one_node_reads_on_another() {
    let c = TestCluster::start(2, &["--erasure", "1+1"]);
    c.create_bucket("n1");
    let data = random(3 * MIB + 11);
    let file = c.dir.path().join("sse-upload");
    std::fs::write(&file, &data).expect("writing the upload");
    let path = file.to_str().expect("utf-8 path");
    let (status, body) = c.s3_within(
        60,
        &[
            "-H",
            "x-amz-server-side-encryption: AES256",
            "-T",
            path,
            &c.url("n1", "enc"),
        ],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    std::fs::remove_file(&file).expect("removing the upload");
    // both nodes hold the same ring, made once
    let ring = |id: &str| std::fs::read(c.data(id).join("secrets/sse.key")).expect("sse.key");
    assert_eq!(ring("n1"), ring("n2"));
    c.assert_object("n2", "enc", &data);
    c.assert_object("n1", "enc", &data);
    let (status, head) = c.s3_within(60, &["-I", &c.url("n2", "enc")]);
    assert_eq!(status, 200);
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(
        head.contains("x-amz-server-side-encryption: aes256"),
        "{head}"
    );
    // no shard of either node holds a window of the plaintext
    for id in ["n1", "n2"] {
        for shard in shard_files(&c.data(id)) {
            let bytes = std::fs::read(&shard).expect("shard");
            for w in data.chunks(MIB).filter(|c| c.len() >= 32).map(|c| &c[..32]) {
                assert!(
                    !bytes.windows(32).any(|b| b == w),
                    "plaintext in {}",
                    shard.display()
                );
            }
        }
    }
}
