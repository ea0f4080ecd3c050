"""The team's objects on disk: one file per object at <root>/<bucket>/<key>, written whole or not at all.

Every write goes to a file under <root>/.staging/, is fsynced, then renamed over its place (and the folder fsynced):
an object that was acknowledged survives `kill -9` or a power cut, and a write cut short leaves only a staging file,
which the next start removes. There is no copy to save or restore: the folder is the store.

Keys are checked before they touch the file system: a key is `/`-separated segments, none empty, `.` or `..`, no
NUL, at most 1024 bytes; and the resolved path must still lie inside its bucket's folder. One S3 case the file
system cannot hold is refused: a key that would need an object to be a folder too (`a` and `a/b`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import threading
import zlib
from base64 import b64decode, b64encode
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Optional

BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255  # a file name's limit on Linux file systems
CHUNK = 1 << 20
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class S3Error(Exception):
    """An S3 error response: HTTP status, S3's error code, and one line for the user."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float
    etag: str


@dataclass(frozen=True)
class BodyChecks:
    """What the client says the body is: verified before the body becomes an object."""
    sha256: Optional[str] = None        # x-amz-content-sha256 when it is a hash (a signed payload)
    md5_base64: Optional[str] = None    # Content-MD5
    crc32_base64: Optional[str] = None  # x-amz-checksum-crc32


def etag_of(stat: os.stat_result) -> str:
    """A version tag that changes whenever the file is replaced (not the MD5 of the content: see docs/team.md)."""
    return hashlib.md5(f"{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}".encode()).hexdigest()


def check_bucket_name(name: str) -> str:
    if not BUCKET_NAME.fullmatch(name) or ".." in name:
        raise S3Error(400, "InvalidBucketName", f"bucket name {name!r} is not allowed: 3-63 characters of a-z, 0-9, "
                                                "'.' and '-', starting and ending with a letter or digit")
    return name


def key_segments(key: str) -> list[str]:
    """The folders and file name a key maps to; S3Error for a key that could leave its bucket's folder."""
    if not key:
        raise S3Error(400, "InvalidArgument", "an object key must not be empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error(400, "KeyTooLongError", f"object key {key[:60]!r}... is over {MAX_KEY_BYTES} bytes")
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or "\0" in segment:
            raise S3Error(400, "InvalidArgument", f"object key {key!r} is refused: its parts between '/' must not be "
                                                  "empty, '.' or '..' (nor hold NUL), so that no key leaves its bucket")
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise S3Error(400, "KeyTooLongError", f"object key {key!r} has a part over {MAX_SEGMENT_BYTES} bytes")
    return segments


def http_checks(headers) -> BodyChecks:
    payload = headers.get("x-amz-content-sha256", "")
    return BodyChecks(sha256=payload.lower() if re.fullmatch(r"[0-9a-fA-F]{64}", payload) else None,
                      md5_base64=headers.get("Content-MD5"), crc32_base64=headers.get("x-amz-checksum-crc32"))


class ObjectStore:
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.staging = self.root / ".staging"
        self.tmp = self.staging / "tmp"
        self.uploads = self.staging / "uploads"
        # Serialises folder creation and removal with the renames into them; data is written outside the lock.
        self._tree = threading.Lock()

    def open(self) -> None:
        """Make the folders, drop what writes cut short left, and close every file to other users."""
        for folder in (self.root, self.staging, self.uploads):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(mode=0o700)
        for dirpath, dirnames, filenames in os.walk(self.root):
            os.chmod(dirpath, 0o700)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o600)

    # -- names and paths ---------------------------------------------------------------------------------------------

    def bucket_dir(self, bucket: str) -> Path:
        return self.root / check_bucket_name(bucket)

    def existing_bucket(self, bucket: str) -> Path:
        folder = self.bucket_dir(bucket)
        if not folder.is_dir():
            raise S3Error(404, "NoSuchBucket", f"bucket {bucket!r} does not exist")
        return folder

    def object_path(self, bucket: str, key: str) -> Path:
        folder = self.existing_bucket(bucket)
        path = folder.joinpath(*key_segments(key))
        # A symlink someone placed in the folder must not lead a key outside it either.
        if not path.resolve().is_relative_to(folder.resolve()):
            raise S3Error(400, "InvalidArgument", f"object key {key!r} resolves outside bucket {bucket!r}")
        return path

    # -- buckets -----------------------------------------------------------------------------------------------------

    def buckets(self) -> list[tuple[str, float]]:
        return sorted((p.name, p.stat().st_mtime) for p in self.root.iterdir()
                      if p.is_dir() and BUCKET_NAME.fullmatch(p.name))

    def create_bucket(self, bucket: str) -> None:
        folder = self.bucket_dir(bucket)
        folder.mkdir(mode=0o700, exist_ok=True)
        fsync_dir(self.root)

    def delete_bucket(self, bucket: str) -> None:
        folder = self.existing_bucket(bucket)
        with self._tree:
            if any(folder.iterdir()):
                raise S3Error(409, "BucketNotEmpty", f"bucket {bucket!r} is not empty")
            folder.rmdir()

    # -- objects -----------------------------------------------------------------------------------------------------

    def receive(self, body: BinaryIO, length: int, checks: BodyChecks) -> tuple[Path, str]:
        """Copy a request body to a staging file, fsynced and verified; its path and MD5 (hex)."""
        fd, name = tmp_file(self.tmp)
        sha256, md5, crc = hashlib.sha256(), hashlib.md5(), 0
        try:
            with os.fdopen(fd, "wb") as handle:
                left = length
                while left:
                    chunk = body.read(min(CHUNK, left))
                    if not chunk:
                        raise S3Error(400, "IncompleteBody", f"the request body ended {left} bytes early")
                    handle.write(chunk)
                    sha256.update(chunk)
                    md5.update(chunk)
                    crc = zlib.crc32(chunk, crc)
                    left -= len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if checks.sha256 and sha256.hexdigest() != checks.sha256:
                raise S3Error(400, "XAmzContentSHA256Mismatch", "the body's SHA-256 differs from x-amz-content-sha256")
            if checks.md5_base64 and b64encode(md5.digest()).decode() != checks.md5_base64.strip():
                raise S3Error(400, "BadDigest", "the body's MD5 differs from Content-MD5")
            if checks.crc32_base64 and b64encode(crc.to_bytes(4, "big")).decode() != checks.crc32_base64.strip():
                raise S3Error(400, "BadDigest", "the body's CRC32 differs from x-amz-checksum-crc32")
        except BaseException:
            os.unlink(name)
            raise
        return Path(name), md5.hexdigest()

    def commit(self, staged: Path, bucket: str, key: str, if_none_match: bool = False) -> ObjectInfo:
        """Rename a verified staging file over the object's place: readers see the old object or the new one."""
        target = self.object_path(bucket, key)
        folder = self.bucket_dir(bucket)
        try:
            with self._tree:
                if if_none_match and target.exists():
                    raise S3Error(412, "PreconditionFailed", f"object {key!r} exists (If-None-Match: *)")
                try:
                    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    if target.is_dir():
                        raise IsADirectoryError(target)
                    os.replace(staged, target)
                except (NotADirectoryError, FileExistsError, IsADirectoryError):
                    raise S3Error(409, "KeyConflict", f"object key {key!r} is refused: this store keeps objects as "
                                                      "files, and a key cannot be both an object and a folder of "
                                                      "other objects") from None
                for parent in [target.parent, *target.parent.parents]:
                    fsync_dir(parent)
                    if parent == folder:
                        break
        finally:
            staged.unlink(missing_ok=True)
        return self.info(bucket, key)

    def info(self, bucket: str, key: str) -> ObjectInfo:
        path = self.object_path(bucket, key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            stat = None
        if stat is None or not path.is_file():
            raise S3Error(404, "NoSuchKey", f"object {key!r} does not exist in bucket {bucket!r}")
        return ObjectInfo(key, stat.st_size, stat.st_mtime, etag_of(stat))

    def open_object(self, bucket: str, key: str) -> tuple[BinaryIO, ObjectInfo]:
        """An open file and what it is, taken from the open file (a rename after this does not change it)."""
        path = self.object_path(bucket, key)
        try:
            handle = open(path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise S3Error(404, "NoSuchKey", f"object {key!r} does not exist in bucket {bucket!r}") from None
        stat = os.fstat(handle.fileno())
        return handle, ObjectInfo(key, stat.st_size, stat.st_mtime, etag_of(stat))

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object (absent is fine, as in S3) and the folders it leaves empty."""
        path = self.object_path(bucket, key)
        folder = self.bucket_dir(bucket)
        with self._tree:
            try:
                if path.is_dir():
                    return
                path.unlink()
            except (FileNotFoundError, NotADirectoryError):
                return
            for parent in path.parents:
                if parent == folder:
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break
            fsync_dir(path.parent if path.parent.exists() else folder)

    def list(self, bucket: str, prefix: str = "", delimiter: str = "", after: str = "",
             limit: int = 1000) -> tuple[list[ObjectInfo], list[str], Optional[str]]:
        """Objects and common prefixes after `after`, in S3's order (UTF-8 bytes); the last name when truncated."""
        folder = self.existing_bucket(bucket)
        head = prefix.rpartition("/")[0]
        start = folder
        if head:
            parts = head.split("/")
            if any(part in ("", ".", "..") for part in parts):
                return [], [], None  # no valid key has this prefix
            start = folder.joinpath(*parts)
        entries: dict[str, Optional[ObjectInfo]] = {}
        for key, path in walk_files(folder, start):
            if not key.startswith(prefix):
                continue
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    entries[key[:cut + len(delimiter)]] = None
                    continue
            try:
                stat = path.stat()
            except OSError:  # deleted while we listed
                continue
            entries[key] = ObjectInfo(key, stat.st_size, stat.st_mtime, etag_of(stat))
        names = sorted((name for name in entries if utf8(name) > utf8(after)), key=utf8)
        page, truncated = names[:limit], len(names) > limit
        objects = [entries[name] for name in page if entries[name] is not None]
        prefixes = [name for name in page if entries[name] is None]
        return objects, prefixes, (page[-1] if truncated and page else None)

    # -- multipart uploads -------------------------------------------------------------------------------------------

    def create_upload(self, bucket: str, key: str) -> str:
        self.object_path(bucket, key)  # refuse a bad key now, not after every part arrived
        upload_id = secrets.token_hex(16)
        folder = self.uploads / upload_id
        folder.mkdir(mode=0o700)
        (folder / "target.json").write_text(json.dumps({"bucket": bucket, "key": key}))
        return upload_id

    def upload_folder(self, upload_id: str, bucket: str, key: str) -> Path:
        folder = self.uploads / upload_id
        try:
            if not UPLOAD_ID.fullmatch(upload_id):
                raise FileNotFoundError(upload_id)
            target = json.loads((folder / "target.json").read_text())
        except (FileNotFoundError, ValueError):
            raise S3Error(404, "NoSuchUpload", f"upload {upload_id!r} does not exist (completed or aborted?)") from None
        if target != {"bucket": bucket, "key": key}:
            raise S3Error(404, "NoSuchUpload", f"upload {upload_id!r} is not for {bucket}/{key}")
        return folder

    def put_part(self, upload_id: str, bucket: str, key: str, number: int, staged: Path, md5: str) -> str:
        folder = self.upload_folder(upload_id, bucket, key)
        if not 1 <= number <= 10000:
            staged.unlink(missing_ok=True)
            raise S3Error(400, "InvalidArgument", f"part number {number} is not between 1 and 10000")
        os.replace(staged, folder / f"{number:05d}.{md5}")
        fsync_dir(folder)
        return md5

    def complete_upload(self, upload_id: str, bucket: str, key: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        folder = self.upload_folder(upload_id, bucket, key)
        if not parts or [n for n, _ in parts] != sorted({n for n, _ in parts}):
            raise S3Error(400, "InvalidPartOrder", "the parts must be listed once each, in ascending order")
        paths = []
        for number, etag in parts:
            path = folder / f"{number:05d}.{etag.strip().strip(chr(34)).lower()}"
            if not path.is_file():
                raise S3Error(400, "InvalidPart", f"part {number} with ETag {etag} was not uploaded")
            paths.append(path)
        fd, name = tmp_file(self.tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                for path in paths:
                    with open(path, "rb") as part:
                        shutil.copyfileobj(part, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(name)
            raise
        info = self.commit(Path(name), bucket, key)
        shutil.rmtree(folder, ignore_errors=True)
        return info

    def abort_upload(self, upload_id: str, bucket: str, key: str) -> None:
        shutil.rmtree(self.upload_folder(upload_id, bucket, key), ignore_errors=True)


def walk_files(folder: Path, start: Path) -> Iterable[tuple[str, Path]]:
    """(key, path) of every file under start, keys relative to the bucket's folder."""
    if not start.is_dir():
        return
    for dirpath, _, filenames in os.walk(start):
        relative = os.path.relpath(dirpath, folder)
        for name in filenames:
            yield (name if relative == "." else f"{relative}/{name}"), Path(dirpath, name)


def utf8(name: str) -> bytes:
    return name.encode("utf-8", "surrogatepass")


def tmp_file(folder: Path) -> tuple[int, str]:
    name = str(folder / secrets.token_hex(16))
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), name


def fsync_dir(path: Path) -> None:
    """A rename is durable once its folder is synced."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def decode_token(token: str) -> str:
    try:
        return b64decode(token.encode(), validate=True).decode("utf-8")
    except ValueError:
        raise S3Error(400, "InvalidArgument", "the continuation token is not one this store gave out") from None


def encode_token(name: str) -> str:
    return b64encode(name.encode("utf-8")).decode()
