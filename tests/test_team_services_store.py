"""The team store's pure parts: key checks, SigV4 verification (requests signed by botocore itself) and the on-disk
object store's writes, listings and multipart uploads in a temporary folder."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import sys
from base64 import b64encode
from email.message import Message
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from team_object_store import BodyChecks, ObjectStore, S3Error, decode_token, encode_token, key_segments  # noqa: E402
from team_s3_server import canonical_query, verify_signature  # noqa: E402

KEYS = {"team-key": "team-secret"}


@pytest.mark.parametrize("key", ["../x", "a/../../x", "a/..", ".", "./a", "a//b", "/a", "a/", "", "a\0b",
                                 "x" * 256, "a/" * 600])
def test_keys_that_could_leave_the_bucket_or_the_file_system_are_refused(key):
    with pytest.raises(S3Error) as refused:
        key_segments(key)
    assert refused.value.status == 400


@pytest.mark.parametrize("key", ["dvcstore/files/md5/ab/cdef", "a..b/c", "...", "%2E%2E/x", "ёлка мёд.txt", "a~b+c"])
def test_ordinary_keys_map_to_their_segments(key):
    assert "/".join(key_segments(key)) == key


def signed(method: str, url: str, body: bytes = b"", secret: str = "team-secret",
           access_key: str = "team-key") -> tuple[str, str, Message]:
    """A request as botocore signs it for S3: path, query and headers."""
    pytest.importorskip("botocore")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body)
    S3SigV4Auth(Credentials(access_key, secret), "s3", "us-east-1").add_auth(request)
    headers = Message()
    headers["Host"] = "127.0.0.1:9000"
    for name, value in request.headers.items():
        headers[name] = value
    path, _, query = url.split("127.0.0.1:9000", 1)[1].partition("?")
    return path, query, headers


def now(shift: dt.timedelta = dt.timedelta()) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + shift


def test_a_request_signed_with_the_teams_keys_is_accepted():
    path, query, headers = signed("GET", "http://127.0.0.1:9000/rnnpipe?list-type=2&prefix=dvc%20store%2F")
    assert verify_signature("GET", path, query, headers, KEYS, now()) == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("change, shift, code", [
    ({"secret": "wrong"}, dt.timedelta(), "SignatureDoesNotMatch"),
    ({"access_key": "made-up"}, dt.timedelta(), "InvalidAccessKeyId"),
    ({}, dt.timedelta(hours=1), "RequestTimeTooSkewed"),  # a replay an hour later
])
def test_wrong_keys_and_old_signatures_are_refused(change, shift, code):
    path, query, headers = signed("PUT", "http://127.0.0.1:9000/rnnpipe/a.txt", b"x", **change)
    with pytest.raises(S3Error) as refused:
        verify_signature("PUT", path, query, headers, KEYS, now(shift))
    assert (refused.value.status, refused.value.code) == (403, code)


def test_a_signature_does_not_carry_over_to_another_key_or_method():
    path, query, headers = signed("GET", "http://127.0.0.1:9000/rnnpipe/a.txt")
    for method, other_path in (("GET", "/rnnpipe/b.txt"), ("DELETE", path)):
        with pytest.raises(S3Error) as refused:
            verify_signature(method, other_path, query, headers, KEYS, now())
        assert refused.value.code == "SignatureDoesNotMatch"


def test_an_unsigned_request_is_refused():
    with pytest.raises(S3Error) as refused:
        verify_signature("GET", "/rnnpipe", "list-type=2", Message(), KEYS, now())
    assert (refused.value.status, refused.value.code) == (403, "AccessDenied")


def test_canonical_query_sorts_and_encodes_as_aws_does():
    assert canonical_query("prefix=a%20b&list-type=2&delete") == "delete=&list-type=2&prefix=a%20b"
    assert canonical_query("X-Amz-Signature=abc&X-Amz-Date=1") == "X-Amz-Date=1"


def put(store: ObjectStore, key: str, content: bytes, bucket: str = "rnnpipe") -> None:
    staged, _ = store.receive(io.BytesIO(content), len(content), BodyChecks())
    store.commit(staged, bucket, key)


@pytest.fixture
def store(tmp_path) -> ObjectStore:
    store = ObjectStore(tmp_path / "s3")
    store.open()
    store.create_bucket("rnnpipe")
    return store


def test_objects_are_files_in_their_bucket_and_deletes_leave_no_empty_folders(store):
    put(store, "dvcstore/files/md5/ab/cd", b"data")
    assert (store.root / "rnnpipe/dvcstore/files/md5/ab/cd").read_bytes() == b"data"
    put(store, "dvcstore/files/md5/ab/cd", b"new")  # replaced whole
    assert (store.root / "rnnpipe/dvcstore/files/md5/ab/cd").read_bytes() == b"new"
    store.delete("rnnpipe", "dvcstore/files/md5/ab/cd")
    assert list((store.root / "rnnpipe").iterdir()) == []
    assert list(store.tmp.iterdir()) == []


def test_a_body_that_fails_its_digest_never_becomes_an_object(store):
    for checks in (BodyChecks(sha256=hashlib.sha256(b"other").hexdigest()),
                   BodyChecks(md5_base64=b64encode(hashlib.md5(b"other").digest()).decode())):
        with pytest.raises(S3Error):
            store.receive(io.BytesIO(b"body"), 4, checks)
    with pytest.raises(S3Error) as short:
        store.receive(io.BytesIO(b"bo"), 4, BodyChecks())
    assert short.value.code == "IncompleteBody"
    assert list(store.tmp.iterdir()) == []


def test_a_key_cannot_be_an_object_and_a_folder_at_once(store):
    put(store, "a", b"1")
    with pytest.raises(S3Error) as conflict:
        put(store, "a/b", b"2")
    assert conflict.value.code == "KeyConflict"
    assert list(store.tmp.iterdir()) == []


def test_listing_follows_s3_order_prefixes_delimiters_and_pages(store):
    for key in ("a/b", "a-c", "a/d/e", "b", "ё"):
        put(store, key, b"x")
    objects, prefixes, last = store.list("rnnpipe")
    assert [o.key for o in objects] == ["a-c", "a/b", "a/d/e", "b", "ё"] and prefixes == [] and last is None
    objects, prefixes, _ = store.list("rnnpipe", delimiter="/")
    assert [o.key for o in objects] == ["a-c", "b", "ё"] and prefixes == ["a/"]
    objects, prefixes, _ = store.list("rnnpipe", prefix="a/", delimiter="/")
    assert [o.key for o in objects] == ["a/b"] and prefixes == ["a/d/"]
    first, _, last = store.list("rnnpipe", limit=2)
    rest, _, end = store.list("rnnpipe", after=decode_token(encode_token(last)), limit=10)
    assert [o.key for o in first + rest] == ["a-c", "a/b", "a/d/e", "b", "ё"] and end is None
    assert store.list("rnnpipe", prefix="../") == ([], [], None)


def test_a_multipart_upload_is_the_parts_in_order_and_leaves_nothing_behind(store):
    upload = store.create_upload("rnnpipe", "big/model.bin")
    etags = {}
    for number, content in ((2, b"world"), (1, b"hello ")):
        staged, md5 = store.receive(io.BytesIO(content), len(content), BodyChecks())
        etags[number] = store.put_part(upload, "rnnpipe", "big/model.bin", number, staged, md5)
    with pytest.raises(S3Error):
        store.complete_upload(upload, "rnnpipe", "big/model.bin", [(2, etags[2]), (1, etags[1])])
    with pytest.raises(S3Error):
        store.complete_upload(upload, "rnnpipe", "other.bin", [(1, etags[1]), (2, etags[2])])
    store.complete_upload(upload, "rnnpipe", "big/model.bin", [(1, f'"{etags[1]}"'), (2, etags[2])])
    assert (store.root / "rnnpipe/big/model.bin").read_bytes() == b"hello world"
    assert list(store.uploads.iterdir()) == [] and list(store.tmp.iterdir()) == []
    with pytest.raises(S3Error) as bad_key:
        store.create_upload("rnnpipe", "../x")
    assert bad_key.value.status == 400


def test_open_removes_cut_writes_and_closes_files_to_others(store):
    (store.tmp / "cut-short").write_bytes(b"half")
    put(store, "k", b"v")
    (store.root / "rnnpipe" / "k").chmod(0o644)
    store.open()
    assert list(store.tmp.iterdir()) == []
    assert (store.root / "rnnpipe" / "k").stat().st_mode & 0o777 == 0o600
    assert (store.root / "rnnpipe").stat().st_mode & 0o777 == 0o700
