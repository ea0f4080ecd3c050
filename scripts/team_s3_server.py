"""The team stack's S3 API server: what DVC's S3 remote and MLflow's artifact proxy need, kept on disk.

    RNNPIPE_S3_ACCESS_KEY_ID=... RNNPIPE_S3_SECRET_ACCESS_KEY=... python scripts/team_s3_server.py --root DIR --port N

scripts/team_services.sh starts it (keys from .team/config.env, passed in the environment so `ps` never shows them).
Every request but GET /-/health must carry an AWS Signature Version 4 made with that one key pair, else 403. Objects
live in team_object_store.ObjectStore (one file each, fsynced before the answer). Path-style addressing only
(http://HOST:PORT/BUCKET/KEY). Supported: list/create/delete/head bucket, list objects (v1 and v2), put/get (ranges,
If-Match, If-None-Match)/head/delete objects, delete many, multipart uploads. Anything else answers 501.
"""
from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import hashlib
import hmac
import os
import signal
import sys
import traceback
import xml.etree.ElementTree as ElementTree
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from team_object_store import (CHUNK, ObjectStore, S3Error, decode_token, encode_token, http_checks,  # noqa: E402
                               key_segments)

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML_BODY = 1 << 20
MAX_DRAINED_BODY = 64 << 20
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
UNSIGNED = "UNSIGNED-PAYLOAD"
# GET's response-* parameters (MLflow's presigned downloads ask for a Content-Disposition).
RESPONSE_OVERRIDES = {"response-content-type": "Content-Type", "response-content-disposition": "Content-Disposition",
                      "response-content-encoding": "Content-Encoding", "response-content-language": "Content-Language",
                      "response-cache-control": "Cache-Control", "response-expires": "Expires"}
# Subresources this store does not keep; a request for one must fail loudly rather than act on the bucket or object.
UNSUPPORTED = {"acl", "policy", "versioning", "versions", "lifecycle", "cors", "tagging", "website", "logging",
               "notification", "replication", "encryption", "object-lock", "retention", "legal-hold", "torrent",
               "restore", "select", "attributes", "accelerate", "analytics", "inventory", "metrics", "ownershipControls",
               "publicAccessBlock", "requestPayment", "intelligent-tiering"}


# -- AWS Signature Version 4 -----------------------------------------------------------------------------------------

def canonical_query(raw_query: str) -> str:
    pairs = []
    for pair in raw_query.split("&") if raw_query else []:
        name, _, value = pair.partition("=")
        if unquote(name) != "X-Amz-Signature":  # a presigned URL's signature cannot sign itself
            pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature_fields(method: str, raw_query: str, headers) -> tuple[dict[str, str], dt.timedelta]:
    """Credential, SignedHeaders, Signature, the date and the payload hash, from the Authorization header or from
    a presigned URL's query; and how long the signature stays good after its date."""
    authorization = headers.get("Authorization")
    if authorization:
        algorithm, _, fields_text = authorization.partition(" ")
        if algorithm != "AWS4-HMAC-SHA256":
            raise S3Error(400, "InvalidRequest", f"signature algorithm {algorithm!r} is not accepted: use "
                                                 "AWS4-HMAC-SHA256")
        try:
            fields = dict(part.strip().split("=", 1) for part in fields_text.split(","))
        except ValueError:
            raise S3Error(400, "AuthorizationHeaderMalformed", "the Authorization header is malformed") from None
        fields["Date"] = headers.get("x-amz-date", "")
        fields["Payload"] = headers.get("x-amz-content-sha256", "")
        return fields, MAX_CLOCK_SKEW
    query = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in raw_query.split("&") if p)}
    if "X-Amz-Signature" not in query:
        raise S3Error(403, "AccessDenied", "this store answers only requests signed with the team's S3 keys "
                                           "(AWS Signature Version 4)")
    if method not in ("GET", "HEAD") or query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise S3Error(403, "AccessDenied", "a presigned URL is accepted for GET and HEAD with AWS4-HMAC-SHA256 only")
    try:
        expires = int(query.get("X-Amz-Expires", ""))
    except ValueError:
        raise S3Error(403, "AccessDenied", "a presigned URL needs X-Amz-Expires") from None
    if not 1 <= expires <= 604800:
        raise S3Error(403, "AccessDenied", "X-Amz-Expires must be between 1 and 604800 seconds")
    fields = {"Credential": query.get("X-Amz-Credential", ""), "SignedHeaders": query.get("X-Amz-SignedHeaders", ""),
              "Signature": query["X-Amz-Signature"], "Date": query.get("X-Amz-Date", ""), "Payload": UNSIGNED}
    return fields, dt.timedelta(seconds=expires)


def verify_signature(method: str, raw_path: str, raw_query: str, headers, keys: dict[str, str],
                     now: dt.datetime) -> str:
    """The payload hash the client signed (x-amz-content-sha256), once the request is proven to come from a holder
    of one of `keys`; S3Error (403) otherwise."""
    fields, valid_for = signature_fields(method, raw_query, headers)
    try:
        access_key, date, region, service, terminator = fields["Credential"].rsplit("/", 4)
        signed_headers = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except (KeyError, ValueError):
        raise S3Error(400, "AuthorizationHeaderMalformed", "the request's signature fields are malformed") from None
    secret = keys.get(access_key)
    if secret is None:
        raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    amz_date = fields["Date"]
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise S3Error(403, "AccessDenied", "the request has no valid x-amz-date") from None
    if not when - MAX_CLOCK_SKEW <= now <= when + valid_for:
        raise S3Error(403, "RequestTimeTooSkewed" if valid_for == MAX_CLOCK_SKEW else "AccessDenied",
                      "the request's signature is too old or from the future (clocks more than 15 minutes apart, or "
                      "a presigned URL past its expiry)")
    if amz_date[:8] != date or service != "s3" or terminator != "aws4_request":
        raise S3Error(403, "AccessDenied", "the credential scope does not match the request's date and service")
    payload = fields["Payload"]
    if not payload or "host" not in signed_headers:
        raise S3Error(400, "InvalidRequest", "a signed request must sign the host header and send x-amz-content-sha256")
    canonical_headers = ""
    for name in signed_headers:
        values = headers.get_all(name)
        if values is None:
            raise S3Error(403, "SignatureDoesNotMatch", f"signed header {name!r} is missing from the request")
        canonical_headers += f"{name}:{','.join(' '.join(v.split()) for v in values)}\n"
    canonical_request = "\n".join([method, quote(unquote(raw_path), safe="/~"), canonical_query(raw_query),
                                   canonical_headers, ";".join(signed_headers), payload])
    scope = f"{date}/{region}/{service}/{terminator}"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret, date, region, service), string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                                                    "you provided. Check your key and signing method.")
    return payload


# -- responses -------------------------------------------------------------------------------------------------------

def xml_document(root: str, body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NAMESPACE}">{body}</{root}>'.encode()


def iso_time(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def element(name: str, value) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def parse_xml(body: bytes, root: str) -> ElementTree.Element:
    try:
        document = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise S3Error(400, "MalformedXML", f"the request body is not the XML of {root}") from None
    for node in document.iter():
        node.tag = node.tag.rsplit("}", 1)[-1]
    if document.tag != root:
        raise S3Error(400, "MalformedXML", f"the request body is {document.tag}, not {root}")
    return document


def byte_range(header: Optional[str], size: int) -> Optional[tuple[int, int]]:
    """(first, last) of a `Range: bytes=...` header, None for the whole object."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    first_text, dash, last_text = spec.strip().partition("-")
    try:
        if unit.strip() != "bytes" or not dash or "," in spec:
            raise ValueError(header)
        if first_text:
            first, last = int(first_text), int(last_text) if last_text else size - 1
        else:
            first, last = max(size - int(last_text), 0), size - 1
    except ValueError:
        return None  # S3 ignores a Range it cannot parse
    if first >= size or first > last:
        raise S3Error(416, "InvalidRange", f"the range {header!r} is outside the object's {size} bytes")
    return first, min(last, size - 1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rnnpipe-team-s3"
    timeout = 300  # an idle keep-alive connection does not hold its thread forever
    store: ObjectStore
    keys: dict[str, str]

    def do_GET(self) -> None: self.serve()  # noqa: E704
    def do_HEAD(self) -> None: self.serve()  # noqa: E704
    def do_PUT(self) -> None: self.serve()  # noqa: E704
    def do_POST(self) -> None: self.serve()  # noqa: E704
    def do_DELETE(self) -> None: self.serve()  # noqa: E704

    def log_message(self, format: str, *args) -> None:
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

    def serve(self) -> None:
        self.body_left = self.content_length()
        try:
            raw_path, _, raw_query = self.path.partition("?")
            if raw_path == "/-/health" and self.command == "GET":
                return self.reply(200, b"ok\n", content_type="text/plain")
            now = dt.datetime.now(dt.timezone.utc)
            self.payload = verify_signature(self.command, raw_path, raw_query, self.headers, self.keys, now)
            if self.payload.startswith("STREAMING-"):
                raise S3Error(501, "NotImplemented", f"aws-chunked uploads ({self.payload}) are not supported: "
                                                     "use plain http to this store, where clients sign the payload")
            query = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in raw_query.split("&") if p)}
            bucket, _, key = unquote(raw_path).lstrip("/").partition("/")
            if UNSUPPORTED & query.keys():
                raise S3Error(501, "NotImplemented", f"{sorted(UNSUPPORTED & query.keys())[0]} is not supported by "
                                                     "this store")
            if not bucket:
                self.service(query)
            elif not key:
                self.bucket_request(bucket, query)
            else:
                self.object_request(bucket, key, query)
        except S3Error as exc:
            self.fail(exc)
        except (ConnectionError, TimeoutError) as exc:  # the client went away: nothing to answer, nothing kept
            self.close_connection = True
            self.log_message("%s: connection lost (%s)", self.requestline, type(exc).__name__)
        except Exception:  # a bug here must not take the server down, and must be in the log
            traceback.print_exc()
            self.fail(S3Error(500, "InternalError", "the store failed on this request: see .team/s3.log"))

    # -- plumbing ----------------------------------------------------------------------------------------------------

    def content_length(self) -> int:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return 0
        try:
            return max(int(self.headers.get("Content-Length", "0")), 0)
        except ValueError:
            self.close_connection = True
            return 0

    def read_small_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise S3Error(411, "MissingContentLength", "send a Content-Length (chunked request bodies are not accepted)")
        if self.body_left > MAX_XML_BODY:
            raise S3Error(400, "EntityTooLarge", f"a request document over {MAX_XML_BODY} bytes is refused")
        body = self.rfile.read(self.body_left)
        self.body_left = 0
        checks = http_checks(self.headers)
        if checks.sha256 and hashlib.sha256(body).hexdigest() != checks.sha256:
            raise S3Error(400, "XAmzContentSHA256Mismatch", "the body's SHA-256 differs from x-amz-content-sha256")
        return body

    def receive_body(self) -> tuple[Path, str]:
        if self.headers.get("Transfer-Encoding"):
            raise S3Error(411, "MissingContentLength", "send a Content-Length (chunked request bodies are not accepted)")
        if self.payload != UNSIGNED and http_checks(self.headers).sha256 is None:
            raise S3Error(400, "InvalidArgument", f"x-amz-content-sha256 {self.payload!r} is not a SHA-256")
        length, self.body_left = self.body_left, 0
        return self.store.receive(self.rfile, length, http_checks(self.headers))

    def reply(self, status: int, body: bytes = b"", content_type: str = "application/xml",
              headers: Optional[dict[str, str]] = None) -> None:
        if self.body_left and self.body_left <= MAX_DRAINED_BODY and not self.close_connection:
            # A refused upload's body is read and dropped, so the client reads this answer, not a reset connection.
            while self.body_left:
                chunk = self.rfile.read(min(CHUNK, self.body_left))
                if not chunk:
                    break
                self.body_left -= len(chunk)
        if self.body_left:  # the client's unread body would be taken for its next request
            self.close_connection = True
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def fail(self, error: S3Error) -> None:
        body = b"" if self.command == "HEAD" else xml_document(
            "Error", element("Code", error.code) + element("Message", error.message) + element("Resource", self.path))
        # S3's own error documents carry no namespace; clients read Code and Message either way.
        body = body.replace(f' xmlns="{NAMESPACE}"'.encode(), b"")
        self.reply(error.status, body)

    # -- service and buckets -----------------------------------------------------------------------------------------

    def service(self, query: dict[str, str]) -> None:
        if self.command != "GET":
            raise S3Error(405, "MethodNotAllowed", f"{self.command} / is not an S3 operation")
        buckets = "".join(f"<Bucket>{element('Name', name)}{element('CreationDate', iso_time(created))}</Bucket>"
                          for name, created in self.store.buckets())
        owner = "<Owner><ID>rnnpipe-team</ID><DisplayName>rnnpipe-team</DisplayName></Owner>"
        self.reply(200, xml_document("ListAllMyBucketsResult", f"{owner}<Buckets>{buckets}</Buckets>"))

    def bucket_request(self, bucket: str, query: dict[str, str]) -> None:
        method = self.command
        if method == "PUT":
            self.read_small_body()
            self.store.create_bucket(bucket)
            return self.reply(200, headers={"Location": f"/{bucket}", "Content-Length": "0"})
        if method == "HEAD":
            self.store.existing_bucket(bucket)
            return self.reply(200, headers={"x-amz-bucket-region": "us-east-1", "Content-Length": "0"})
        if method == "DELETE":
            self.store.delete_bucket(bucket)
            return self.reply(204, headers={"Content-Length": "0"})
        if method == "POST" and "delete" in query:
            return self.delete_many(bucket)
        if method == "GET" and "location" in query:
            self.store.existing_bucket(bucket)
            return self.reply(200, xml_document("LocationConstraint", ""))
        if method == "GET" and "uploads" in query:
            self.store.existing_bucket(bucket)
            return self.reply(200, xml_document("ListMultipartUploadsResult", element("Bucket", bucket)
                                                + "<IsTruncated>false</IsTruncated>"))
        if method == "GET":
            return self.list_objects(bucket, query)
        raise S3Error(405, "MethodNotAllowed", f"{method} on a bucket is not supported here")

    def list_objects(self, bucket: str, query: dict[str, str]) -> None:
        version2 = query.get("list-type") == "2"
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        url_encoded = query.get("encoding-type") == "url"
        try:
            limit = min(max(int(query.get("max-keys", "1000")), 0), 1000)
        except ValueError:
            raise S3Error(400, "InvalidArgument", f"max-keys {query.get('max-keys')!r} is not a number") from None
        if version2:
            token = query.get("continuation-token")
            after = decode_token(token) if token else query.get("start-after", "")
        else:
            after = query.get("marker", "")
        objects, prefixes, last = self.store.list(bucket, prefix, delimiter, after, limit)

        def name(text: str) -> str:
            return quote(text, safe="/~") if url_encoded else text

        body = [element("Name", bucket), element("Prefix", name(prefix)), element("MaxKeys", limit),
                element("IsTruncated", "true" if last else "false")]
        if delimiter:
            body.append(element("Delimiter", name(delimiter)))
        if url_encoded:
            body.append(element("EncodingType", "url"))
        if version2:
            body.append(element("KeyCount", len(objects) + len(prefixes)))
            if query.get("continuation-token"):
                body.append(element("ContinuationToken", query["continuation-token"]))
            if query.get("start-after"):
                body.append(element("StartAfter", name(query["start-after"])))
            if last:
                body.append(element("NextContinuationToken", encode_token(last)))
        else:
            body.append(element("Marker", name(after)))
            if last:
                body.append(element("NextMarker", name(last)))
        for info in objects:
            body.append(f"<Contents>{element('Key', name(info.key))}{element('LastModified', iso_time(info.mtime))}"
                        f"{element('ETag', chr(34) + info.etag + chr(34))}{element('Size', info.size)}"
                        "<StorageClass>STANDARD</StorageClass></Contents>")
        for common in prefixes:
            body.append(f"<CommonPrefixes>{element('Prefix', name(common))}</CommonPrefixes>")
        self.reply(200, xml_document("ListBucketResult", "".join(body)))

    def delete_many(self, bucket: str) -> None:
        document = parse_xml(self.read_small_body(), "Delete")
        quiet = (document.findtext("Quiet") or "").strip().lower() == "true"
        self.store.existing_bucket(bucket)
        results = []
        for node in document.findall("Object"):
            key = node.findtext("Key") or ""
            try:
                self.store.delete(bucket, key)
                if not quiet:
                    results.append(f"<Deleted>{element('Key', key)}</Deleted>")
            except S3Error as exc:
                results.append(f"<Error>{element('Key', key)}{element('Code', exc.code)}"
                               f"{element('Message', exc.message)}</Error>")
        self.reply(200, xml_document("DeleteResult", "".join(results)))

    # -- objects -----------------------------------------------------------------------------------------------------

    def object_request(self, bucket: str, key: str, query: dict[str, str]) -> None:
        key_segments(key)  # a bad key is refused whatever the operation
        method = self.command
        if method == "PUT" and self.headers.get("x-amz-copy-source"):
            raise S3Error(501, "NotImplemented", "server-side copy is not supported by this store")
        if method == "PUT" and "uploadId" in query:
            return self.upload_part(bucket, key, query)
        if method == "PUT":
            staged, _ = self.receive_body()
            info = self.store.commit(staged, bucket, key, if_none_match=self.headers.get("If-None-Match") == "*")
            return self.reply(200, headers={"ETag": f'"{info.etag}"', "Content-Length": "0"})
        if method == "POST" and "uploads" in query:
            self.read_small_body()
            upload_id = self.store.create_upload(bucket, key)
            return self.reply(200, xml_document("InitiateMultipartUploadResult", element("Bucket", bucket)
                                                + element("Key", key) + element("UploadId", upload_id)))
        if method == "POST" and "uploadId" in query:
            return self.complete_upload(bucket, key, query["uploadId"])
        if method == "DELETE" and "uploadId" in query:
            self.store.abort_upload(query["uploadId"], bucket, key)
            return self.reply(204, headers={"Content-Length": "0"})
        if method == "DELETE":
            self.store.delete(bucket, key)
            return self.reply(204, headers={"Content-Length": "0"})
        if method in ("GET", "HEAD") and "uploadId" not in query:
            return self.send_object(bucket, key, query)
        raise S3Error(501, "NotImplemented", f"{method} {sorted(query)} on an object is not supported by this store")

    def upload_part(self, bucket: str, key: str, query: dict[str, str]) -> None:
        try:
            number = int(query.get("partNumber", ""))
        except ValueError:
            raise S3Error(400, "InvalidArgument", f"partNumber {query.get('partNumber')!r} is not a number") from None
        self.store.upload_folder(query["uploadId"], bucket, key)  # before reading a body that has nowhere to go
        staged, md5 = self.receive_body()
        etag = self.store.put_part(query["uploadId"], bucket, key, number, staged, md5)
        self.reply(200, headers={"ETag": f'"{etag}"', "Content-Length": "0"})

    def complete_upload(self, bucket: str, key: str, upload_id: str) -> None:
        document = parse_xml(self.read_small_body(), "CompleteMultipartUpload")
        try:
            parts = [(int(node.findtext("PartNumber") or ""), node.findtext("ETag") or "")
                     for node in document.findall("Part")]
        except ValueError:
            raise S3Error(400, "MalformedXML", "a PartNumber is not a number") from None
        info = self.store.complete_upload(upload_id, bucket, key, parts)
        self.reply(200, xml_document("CompleteMultipartUploadResult", element("Location", f"/{bucket}/{key}")
                                     + element("Bucket", bucket) + element("Key", key)
                                     + element("ETag", f'"{info.etag}"')))

    def send_object(self, bucket: str, key: str, query: dict[str, str]) -> None:
        handle, info = self.store.open_object(bucket, key)
        with handle:
            etag = f'"{info.etag}"'
            if_match = self.headers.get("If-Match")
            if if_match and if_match.strip() not in ("*", etag):
                raise S3Error(412, "PreconditionFailed", f"object {key!r} changed (If-Match {if_match})")
            headers = {"ETag": etag, "Last-Modified": formatdate(info.mtime, usegmt=True), "Accept-Ranges": "bytes",
                       "Content-Type": "application/octet-stream"}
            for parameter, header in RESPONSE_OVERRIDES.items():
                if parameter in query:
                    headers[header] = query[parameter].replace("\r", " ").replace("\n", " ")
            if_none_match = self.headers.get("If-None-Match")
            if if_none_match and if_none_match.strip() in ("*", etag):
                return self.reply(304, headers={**headers, "Content-Length": "0"})
            span = byte_range(self.headers.get("Range"), info.size)
            first, last = span or (0, info.size - 1)
            length = last - first + 1 if info.size else 0
            headers["Content-Length"] = str(length)
            if span:
                headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
            self.reply(206 if span else 200, headers=headers)
            if self.command == "HEAD":
                return
            handle.seek(first)
            while length:
                chunk = handle.read(min(CHUNK, length))
                if not chunk:  # cannot happen to a file we hold open, unless it was truncated in place
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                length -= len(chunk)


class Server(ThreadingHTTPServer):
    daemon_threads = True  # writes are atomic: a request cut by a stop leaves only a staging file
    allow_reuse_address = True


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the folder that holds the buckets")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    access_key = os.environ.get("RNNPIPE_S3_ACCESS_KEY_ID", "")
    secret_key = os.environ.get("RNNPIPE_S3_SECRET_ACCESS_KEY", "")
    if not access_key or not secret_key:
        print("error: RNNPIPE_S3_ACCESS_KEY_ID and RNNPIPE_S3_SECRET_ACCESS_KEY must both be set: the store answers "
              "only requests signed with them", file=sys.stderr)
        return 1
    os.umask(0o077)
    store = ObjectStore(args.root)
    store.staging.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = open(store.staging / "server.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"error: another S3 server already serves {store.root}: stop it first "
              "(bash scripts/team_services.sh stop)", file=sys.stderr)
        return 1
    store.open()
    Handler.store, Handler.keys = store, {access_key: secret_key}
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror}): pick another port", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"serving {store.root} on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
