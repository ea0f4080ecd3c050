"""The team's object store keeps what it acknowledged: `kill -9` after `dvc push` loses nothing, keys stay in their
bucket's folder, and only the team's keys get in.

Real processes only: scripts/team_services.sh starts the stack, DVC pushes to the store over S3, the store is killed
with SIGKILL and started again by the same script, and a fresh `git clone` pulls through DVC.
"""
from __future__ import annotations

import http.client
import os
import shlex
import signal
import stat
import subprocess
import sys
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.helpers import BIN, REPO, subprocess_env
from tests.integration.test_team import unavailable

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "team_services.sh"


def script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def dvc(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "dvc"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture(scope="module")
def stack():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    state = Path(tempfile.mkdtemp(prefix="rnnpipe-store-"))  # outside pytest's 0700 folders: postgres reaches it
    env = subprocess_env(RNNPIPE_TEAM_DIR=str(state), RNNPIPE_PYTHON=sys.executable, AWS_EC2_METADATA_DISABLED="true")
    started = script(env, "start")
    try:
        assert started.returncode == 0, started.stderr
        config = dict(line.split("=", 1) for line in (state / "config.env").read_text().splitlines()
                      if "=" in line and not line.startswith("#"))
        dvc_lines = [shlex.split(line)[1:] for line in started.stdout.splitlines() if line.startswith("dvc remote ")]
        yield state, env, config, dvc_lines
    finally:
        stopped = script(env, "stop")
        shutil.rmtree(state, ignore_errors=True)
    assert stopped.returncode == 0, stopped.stderr


def client_env() -> dict[str, str]:
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent",
               AWS_EC2_METADATA_DISABLED="true")
    return env


def s3(config: dict[str, str], access_key: str | None = None, secret_key: str | None = None):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{config['S3_PORT']}", region_name="us-east-1",
                        aws_access_key_id=access_key or config["S3_ACCESS_KEY_ID"],
                        aws_secret_access_key=secret_key or config["S3_SECRET_ACCESS_KEY"],
                        config=Config(retries={"max_attempts": 1}, signature_version="s3v4"))  # as MLflow's


def test_kill_9_after_dvc_push_then_start_and_a_fresh_clone_pulls_everything(stack, tmp_path):
    state, env, config, dvc_lines = stack
    origin = tmp_path / "a"
    origin.mkdir()
    client = client_env()
    git(origin, "init", "-q", "-b", "main")
    git(origin, "config", "user.email", "a@rnnpipe.local")
    git(origin, "config", "user.name", "a")
    dvc(origin, client, "init", "-q")
    (origin / "data").mkdir()
    files = {"data/weights.bin": os.urandom(3 << 20), "data/notes.txt": "ёлка, мёд\n".encode(),
             "model.bin": os.urandom(20 << 20)}  # over the S3 clients' multipart thresholds (8 MB boto3, 5 MB s3fs)
    for path, content in files.items():
        (origin / path).write_bytes(content)
    dvc(origin, client, "add", "-q", "data", "model.bin")
    dvc(origin, client, "remote", "add", "team", "s3://rnnpipe/dvcstore")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "data")
    for line in dvc_lines:
        dvc(origin, client, *line)
    pushed = dvc(origin, client, "push")
    assert "files pushed" in pushed.stdout, pushed.stdout

    pid = int((state / "s3.pid").read_text().split()[0])
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert script(env, "status").returncode == 3  # s3 is down
    restarted = script(env, "start")
    assert restarted.returncode == 0, restarted.stderr
    assert "s3: started" in restarted.stderr and "postgres: already running" in restarted.stderr

    fresh = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(origin), str(fresh))
    for line in dvc_lines:
        dvc(fresh, client, *line)
    dvc(fresh, client, "pull")
    for path, content in files.items():
        assert (fresh / path).read_bytes() == content, path
    assert "in sync" in dvc(fresh, client, "status", "--cloud").stdout


def test_keys_with_dot_dot_are_refused_and_nothing_leaves_the_bucket(stack):
    from botocore.exceptions import ClientError

    state, _, config, _ = stack
    client = s3(config)
    outside = state / "s3" / "escaped"
    for key in ("../escaped", "dvcstore/../../escaped", "a//b", "./a"):
        with pytest.raises(ClientError) as refused:
            client.put_object(Bucket="rnnpipe", Key=key, Body=b"x")
        assert refused.value.response["Error"]["Code"] == "InvalidArgument", key
        assert "'..'" in refused.value.response["Error"]["Message"]
    assert not outside.exists() and not (state / "escaped").exists()
    # A key that only looks like one (percent signs are part of it) is an ordinary object inside the bucket.
    client.put_object(Bucket="rnnpipe", Key="odd/%2E%2E/name", Body=b"y")
    assert (state / "s3" / "rnnpipe" / "odd" / "%2E%2E" / "name").read_bytes() == b"y"
    client.delete_object(Bucket="rnnpipe", Key="odd/%2E%2E/name")
    assert not (state / "s3" / "rnnpipe" / "odd").exists()


def test_wrong_or_missing_credentials_are_refused_for_list_and_write(stack):
    from botocore.exceptions import ClientError

    state, _, config, _ = stack
    before = sorted(p for p in (state / "s3").rglob("*") if ".staging" not in p.parts)
    for access_key, secret_key, code in (("made-up", "keys", "InvalidAccessKeyId"),
                                         (config["S3_ACCESS_KEY_ID"], "wrong-secret", "SignatureDoesNotMatch")):
        client = s3(config, access_key, secret_key)
        with pytest.raises(ClientError) as listed:
            client.list_objects_v2(Bucket="rnnpipe")
        assert listed.value.response["Error"]["Code"] == code
        with pytest.raises(ClientError) as written:
            client.put_object(Bucket="rnnpipe", Key="intruder.txt", Body=b"x")
        assert written.value.response["Error"]["Code"] == code
    # No signature at all.
    connection = http.client.HTTPConnection("127.0.0.1", int(config["S3_PORT"]), timeout=10)
    connection.request("GET", "/rnnpipe?list-type=2")
    response = connection.getresponse()
    assert response.status == 403 and b"<Code>AccessDenied</Code>" in response.read()
    connection.request("PUT", "/rnnpipe/intruder.txt", body=b"x")
    response = connection.getresponse()
    assert response.status == 403 and b"<Code>AccessDenied</Code>" in response.read()
    connection.close()
    assert sorted(p for p in (state / "s3").rglob("*") if ".staging" not in p.parts) == before


def test_an_acknowledged_object_is_a_file_already_and_the_team_folder_is_closed_to_others(stack):
    state, _, config, _ = stack
    s3(config).put_object(Bucket="rnnpipe", Key="probe/object.txt", Body=b"on disk")
    assert (state / "s3" / "rnnpipe" / "probe" / "object.txt").read_bytes() == b"on disk"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in [*state.iterdir(), *(state / "s3").rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        elif path.parent == state or "s3" in path.relative_to(state).parts:
            assert mode == 0o600, (path, oct(mode))


def test_presigned_urls_read_only_and_only_as_signed(stack):
    """MLflow's server hands its clients presigned GET URLs for artifact downloads."""
    _, _, config, _ = stack
    client = s3(config)
    client.put_object(Bucket="rnnpipe", Key="probe/presigned.txt", Body=b"signed")
    url = client.generate_presigned_url("get_object", Params={"Bucket": "rnnpipe", "Key": "probe/presigned.txt"},
                                        ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"signed"
    for bad in (url.replace("presigned.txt", "other.txt"), url[:-4] + ("0000" if not url.endswith("0000") else "1111"),
                client.generate_presigned_url("put_object", Params={"Bucket": "rnnpipe", "Key": "probe/put.txt"})):
        method = "PUT" if "put.txt" in bad else "GET"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(bad, data=b"x" if method == "PUT" else None, method=method),
                                   timeout=10)
        assert refused.value.code == 403, bad


def test_the_s3_operations_dvc_and_mlflow_use(stack, tmp_path):
    from botocore.exceptions import ClientError

    _, _, config, _ = stack
    client = s3(config)
    keys = [f"ops/{name}" for name in ("a-b", "a/b", "a/c/d", "z", "ё x+y")]  # S3's order: UTF-8 bytes
    for key in keys:
        client.put_object(Bucket="rnnpipe", Key=key, Body=key.encode())
    pages = list(client.get_paginator("list_objects_v2").paginate(Bucket="rnnpipe", Prefix="ops/",
                                                                  PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3 and [o["Key"] for p in pages for o in p["Contents"]] == keys
    top = client.list_objects_v2(Bucket="rnnpipe", Prefix="ops/", Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["ops/a-b", "ops/z", "ops/ё x+y"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["ops/a/"]
    assert [o["Key"] for o in client.list_objects(Bucket="rnnpipe", Prefix="ops/a/")["Contents"]] == keys[1:3]

    head = client.head_object(Bucket="rnnpipe", Key="ops/z")
    assert head["ContentLength"] == len(b"ops/z")
    assert client.get_object(Bucket="rnnpipe", Key="ops/a/c/d", Range="bytes=4-6")["Body"].read() == b"a/c"
    with pytest.raises(ClientError) as changed:
        client.get_object(Bucket="rnnpipe", Key="ops/z", IfMatch='"not-the-etag"')
    assert changed.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError) as missing:
        client.get_object(Bucket="rnnpipe", Key="ops/none")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 << 20))  # boto3 uploads and downloads it in 8 MiB parts
    client.upload_file(str(big), "rnnpipe", "ops/big.bin")
    client.download_file("rnnpipe", "ops/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()

    deleted = client.delete_objects(Bucket="rnnpipe", Delete={"Objects": [{"Key": k} for k in keys + ["ops/big.bin"]]})
    assert len(deleted["Deleted"]) == len(keys) + 1
    assert client.list_objects_v2(Bucket="rnnpipe", Prefix="ops/")["KeyCount"] == 0
