"""Upload the built site to its bucket, invalidate what CloudFront may hold, empty on cleanup.

Hashed assets (Vite's assets/*-<hash>.js) never change under one name and are
cached for a year; index.html and config.json change on every deploy and must be
revalidated, or visitors keep an old app pointing at an old API. CloudFront
serves those two uncached (infra/site.tf), but "/" maps to index.html under the
default behaviour, so a deploy that changes them invalidates all three paths.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import time
from pathlib import Path
from typing import Any

CONFIG_KEY = "config.json"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
NO_CACHE = "no-cache"  # may be stored, but revalidated (cheap 304s) on every load
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
ENTRY_PATHS = {"index.html": ["/", "/index.html"], CONFIG_KEY: ["/config.json"]}


def content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def cache_control(key: str) -> str:
    if key.endswith(".html") or key == CONFIG_KEY:
        return NO_CACHE
    if key.startswith("assets/"):
        return IMMUTABLE
    return SHORT


def site_config(rest_api_url: str, websocket_api_url: str) -> bytes:
    """The /config.json the site reads at start-up (PROTOCOL.md, Endpoints)."""
    return json.dumps({"apiUrl": rest_api_url, "wsUrl": websocket_api_url}).encode()


def _objects(s3: Any, bucket: str) -> dict[str, str]:
    """Key → ETag (without quotes) of every object in the bucket."""
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["ETag"].strip('"')
    return found


def _put(s3: Any, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType=content_type(key),
        CacheControl=cache_control(key),
    )


def upload(
    s3: Any, bucket: str, files: dict[str, bytes], keep: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """Make the bucket hold exactly `files` (plus `keep`); unchanged objects are skipped.

    Returns the keys it uploaded, left alone and deleted.
    """
    existing = _objects(s3, bucket)
    report: dict[str, list[str]] = {"uploaded": [], "unchanged": [], "deleted": []}
    for key, body in sorted(files.items()):
        # Single-part uploads under SSE-S3 have the MD5 as ETag.
        if existing.get(key) == hashlib.md5(body, usedforsecurity=False).hexdigest():
            report["unchanged"].append(key)
            continue
        _put(s3, bucket, key, body)
        report["uploaded"].append(key)
    stale = sorted(set(existing) - set(files) - keep)
    for start in range(0, len(stale), 1000):
        batch = stale[start : start + 1000]
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
    report["deleted"] = stale
    return report


def read_dist(dist: Path) -> dict[str, bytes]:
    """Every file of a built site, by its key (path relative to dist, with /)."""
    if not (dist / "index.html").is_file():
        raise FileNotFoundError(f"{dist}/index.html not found: build the site first")
    return {
        path.relative_to(dist).as_posix(): path.read_bytes()
        for path in sorted(dist.rglob("*"))
        if path.is_file() and path.name != CONFIG_KEY
    }


def empty(s3: Any, bucket: str) -> int:
    """Delete every object (and every version, should versioning be on); the count."""
    deleted = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for page in pages:
            batch = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if batch:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                deleted += len(batch)
    except s3.exceptions.NoSuchBucket:
        return 0
    return deleted


def invalidate(
    cloudfront: Any, distribution_id: str, uploaded: list[str], timeout_s: float = 900
) -> str | None:
    """Invalidate the entry paths among `uploaded` and wait for it; the invalidation id."""
    paths = sorted(path for key in uploaded for path in ENTRY_PATHS.get(key, []))
    if not paths:
        return None
    created = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": f"deploy-{time.time_ns()}",
        },
    )["Invalidation"]
    deadline = time.monotonic() + timeout_s
    status = created["Status"]
    # Compared without case: boto3's waiter wants "Completed", and emulators say "COMPLETED".
    while status.lower() != "completed":
        if time.monotonic() > deadline:
            raise TimeoutError(f"invalidation {created['Id']} still {status} after {timeout_s} s")
        time.sleep(5)
        status = cloudfront.get_invalidation(DistributionId=distribution_id, Id=created["Id"])[
            "Invalidation"
        ]["Status"]
    return created["Id"]
