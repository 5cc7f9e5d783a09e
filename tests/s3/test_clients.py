"""Real command-line clients against a real liuma node: aws cli (s3 and
s3api), curl on a presigned URL, rclone sync + check of a large tree, and
s3cmd put/get/ls. Each tool is used exactly as a user would."""

import hashlib
import os
import random
import shutil
import subprocess
import uuid

import pytest

from conftest import ENDPOINT

MiB = 1 << 20


def run(cmd, check=True, env=None, **kw):
    # A missing client fails its test (CI installs every one): a skip would
    # let the suite pass without having tried the client at all.
    if shutil.which(cmd[0]) is None:
        pytest.fail(f"{cmd[0]} is not installed: this test needs it (scripts/test installs it)")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env or os.environ.copy(), **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {r.returncode}\nstdout: {r.stdout[-3000:]}\nstderr: {r.stderr[-3000:]}")
    return r


def aws(*args, check=True):
    return run(["aws", "--endpoint-url", ENDPOINT, "--region", "us-east-1", *args], check=check)


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def write_random(path, size, seed):
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, MiB)
            f.write(rnd.randbytes(n))
            left -= n


@pytest.fixture
def name():
    return "cli-" + uuid.uuid4().hex[:12]


def test_awscli_s3_commands(tmp_path, name):
    aws("s3", "mb", f"s3://{name}")
    assert name in aws("s3", "ls").stdout
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("bravo")
    (src / "empty").write_bytes(b"")
    (src / "name with spaces.txt").write_text("spaces")
    aws("s3", "cp", str(src / "a.txt"), f"s3://{name}/a.txt")
    out = aws("s3", "cp", f"s3://{name}/a.txt", "-").stdout
    assert out == "alpha"
    aws("s3", "mv", f"s3://{name}/a.txt", f"s3://{name}/moved.txt")
    listing = aws("s3", "ls", f"s3://{name}/").stdout
    assert "moved.txt" in listing and " a.txt" not in listing
    aws("s3", "sync", str(src), f"s3://{name}/tree")
    listing = aws("s3", "ls", "--recursive", f"s3://{name}/tree/").stdout
    for k in ["tree/a.txt", "tree/sub/b.txt", "tree/empty", "tree/name with spaces.txt"]:
        assert k in listing, listing
    (src / "a.txt").unlink()
    (src / "c.txt").write_text("charlie")
    aws("s3", "sync", "--delete", str(src), f"s3://{name}/tree")
    listing = aws("s3", "ls", "--recursive", f"s3://{name}/tree/").stdout
    assert "tree/c.txt" in listing and "tree/a.txt" not in listing
    back = tmp_path / "back"
    aws("s3", "sync", f"s3://{name}/tree", str(back))
    assert (back / "sub" / "b.txt").read_text() == "bravo"
    assert (back / "empty").read_bytes() == b""
    # 200 MiB: aws cli switches to multipart upload and ranged parallel download
    big = tmp_path / "big.bin"
    write_random(big, 200 * MiB, 7)
    aws("s3", "cp", str(big), f"s3://{name}/big.bin")
    head = aws("s3api", "head-object", "--bucket", name, "--key", "big.bin").stdout
    assert '"ContentLength": 209715200' in head and "-" in head.split('"ETag"')[1].split("\n")[0]
    aws("s3", "cp", f"s3://{name}/big.bin", str(tmp_path / "big.back"))
    assert md5_file(tmp_path / "big.back") == md5_file(big)
    aws("s3", "rm", "--recursive", f"s3://{name}")
    assert aws("s3", "ls", f"s3://{name}").stdout.strip() == ""
    aws("s3", "rb", f"s3://{name}")
    assert name not in aws("s3", "ls").stdout


def test_awscli_s3api_versioning_copy_conditional_presign(tmp_path, name):
    aws("s3api", "create-bucket", "--bucket", name)
    aws("s3api", "put-bucket-versioning", "--bucket", name, "--versioning-configuration", "Status=Enabled")
    assert "Enabled" in aws("s3api", "get-bucket-versioning", "--bucket", name).stdout
    f = tmp_path / "f"
    f.write_text("one")
    aws("s3api", "put-object", "--bucket", name, "--key", "k", "--body", str(f))
    f.write_text("two")
    put = aws("s3api", "put-object", "--bucket", name, "--key", "k", "--body", str(f)).stdout
    assert "VersionId" in put
    versions = aws("s3api", "list-object-versions", "--bucket", name).stdout
    assert versions.count('"VersionId"') == 2
    aws("s3api", "copy-object", "--bucket", name, "--key", "k2", "--copy-source", f"{name}/k")
    out = tmp_path / "out"
    aws("s3api", "get-object", "--bucket", name, "--key", "k2", str(out))
    assert out.read_text() == "two"
    etag = aws("s3api", "head-object", "--bucket", name, "--key", "k", "--query", "ETag", "--output", "text").stdout.strip()
    r = aws("s3api", "get-object", "--bucket", name, "--key", "k", "--if-none-match", etag, str(out), check=False)
    assert r.returncode != 0 and "304" in r.stderr
    r = aws("s3api", "get-object", "--bucket", name, "--key", "k", "--if-match", '"nope"', str(out), check=False)
    assert r.returncode != 0 and ("412" in r.stderr or "PreconditionFailed" in r.stderr)
    aws("s3api", "get-object", "--bucket", name, "--key", "k", "--if-match", etag, str(out))
    # aws cli v1 presigns with SigV2 unless told otherwise; liuma refuses
    # SigV2 by default (--s3-allow-sigv2), so configure SigV4 as a user would.
    cfg = tmp_path / "aws-config"
    cfg.write_text("[default]\ns3 =\n    signature_version = s3v4\n")
    env = {**os.environ, "AWS_CONFIG_FILE": str(cfg)}
    presign = ["aws", "--endpoint-url", ENDPOINT, "--region", "us-east-1", "s3", "presign"]
    url = run([*presign, f"s3://{name}/k", "--expires-in", "120"], env=env).stdout.strip()
    assert "X-Amz-Signature=" in url
    got = run(["curl", "-sf", url]).stdout
    assert got == "two"
    bad = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url.replace("k?", "k2?")], check=False).stdout
    assert bad == "403"
    for v in aws("s3api", "list-object-versions", "--bucket", name, "--query",
                 "[Versions[].[Key,VersionId], DeleteMarkers[].[Key,VersionId]][]", "--output", "text").stdout.split("\n"):
        if v.strip() and v.strip() != "None":
            key, vid = v.split()
            aws("s3api", "delete-object", "--bucket", name, "--key", key, "--version-id", vid)
    aws("s3api", "delete-bucket", "--bucket", name)


def rclone_env(name):
    # AWS_CA_BUNDLE (set on some machines) breaks rclone's plain-HTTP transport
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update({
        "RCLONE_CONFIG_LM_TYPE": "s3",
        "RCLONE_CONFIG_LM_PROVIDER": "Other",
        "RCLONE_CONFIG_LM_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "RCLONE_CONFIG_LM_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "RCLONE_CONFIG_LM_ENDPOINT": ENDPOINT,
        "RCLONE_CONFIG_LM_REGION": "us-east-1",
        "RCLONE_CONFIG_LM_FORCE_PATH_STYLE": "true",
    })
    return env


def test_rclone_sync_and_check_large_tree(tmp_path, name):
    tree = tmp_path / "tree"
    rnd = random.Random(42)
    n_files = int(os.environ.get("LIUMA_RCLONE_FILES", "3000"))
    for i in range(n_files):
        d = tree / f"d{i % 37:02d}" / f"e{i % 5}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.dat").write_bytes(rnd.randbytes(rnd.randint(1, 6000)))
    for i in range(20):
        (tree / f"empty-{i}").write_bytes(b"")
    uni = tree / "ünïcödé dir" / "naïve café ☃"
    uni.mkdir(parents=True)
    (uni / "file with spaces & symbols (1).txt").write_text("unicode")
    (uni / "日本語.txt").write_text("japanese")
    big = tree / "big" / "one-gib.bin"
    big.parent.mkdir()
    # 1 GiB, made fast: sparse, with random regions so blocks differ
    with open(big, "wb") as f:
        f.truncate(1 << 30)
        for off in range(0, 1 << 30, 64 * MiB):
            f.seek(off)
            f.write(rnd.randbytes(MiB))
    env = rclone_env(name)
    run(["rclone", "mkdir", f"lm:{name}"], env=env)
    run(["rclone", "sync", str(tree), f"lm:{name}/t", "--transfers", "8", "--checkers", "16"], env=env, timeout=1200)
    run(["rclone", "check", str(tree), f"lm:{name}/t", "--checkers", "16"], env=env, timeout=1200)
    # a second sync changes nothing; a changed file is re-sent and checked
    (tree / "d00" / "e0" / "f00000.dat").write_bytes(b"changed")
    (tree / "empty-0").unlink()
    run(["rclone", "sync", str(tree), f"lm:{name}/t", "--transfers", "8"], env=env, timeout=1200)
    run(["rclone", "check", str(tree), f"lm:{name}/t", "--checkers", "16"], env=env, timeout=1200)
    lsl = run(["rclone", "lsf", "-R", f"lm:{name}/t/ünïcödé dir"], env=env).stdout
    assert "naïve café ☃/日本語.txt" in lsl
    run(["rclone", "copyto", f"lm:{name}/t/big/one-gib.bin", str(tmp_path / "big.back")], env=env, timeout=1200)
    assert md5_file(tmp_path / "big.back") == md5_file(big)
    run(["rclone", "purge", f"lm:{name}"], env=env, timeout=600)


def test_s3cmd_put_get_ls(tmp_path, name):
    host = ENDPOINT.removeprefix("http://")
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {os.environ['AWS_ACCESS_KEY_ID']}\n"
        f"secret_key = {os.environ['AWS_SECRET_ACCESS_KEY']}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nbucket_location = us-east-1\nsignature_v2 = False\n"
    )
    s3cmd = ["s3cmd", "-c", str(cfg)]
    run([*s3cmd, "mb", f"s3://{name}"])
    f = tmp_path / "hello.txt"
    f.write_text("hello s3cmd")
    big = tmp_path / "big.bin"
    write_random(big, 20 * MiB, 3)
    run([*s3cmd, "put", str(f), f"s3://{name}/dir/hello.txt"])
    run([*s3cmd, "put", "--multipart-chunk-size-mb=5", str(big), f"s3://{name}/big.bin"])
    ls = run([*s3cmd, "ls", f"s3://{name}/dir/"]).stdout
    assert f"s3://{name}/dir/hello.txt" in ls
    la = run([*s3cmd, "ls", "-r", f"s3://{name}"]).stdout
    assert "big.bin" in la
    run([*s3cmd, "get", f"s3://{name}/dir/hello.txt", str(tmp_path / "got.txt")])
    assert (tmp_path / "got.txt").read_text() == "hello s3cmd"
    run([*s3cmd, "get", f"s3://{name}/big.bin", str(tmp_path / "big.back")])
    assert md5_file(tmp_path / "big.back") == md5_file(big)
    assert name in run([*s3cmd, "ls"]).stdout
    run([*s3cmd, "del", "--recursive", "--force", f"s3://{name}"])
    run([*s3cmd, "rb", f"s3://{name}"])
