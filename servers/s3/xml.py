"""S3's XML bodies: the listings we write and the CompleteMultipartUpload we read.

ListObjectsV2 walks the index in key order. With a delimiter, keys that share
the part of their name up to the delimiter fold into one CommonPrefix, and the
scan jumps past them (the next key >= the prefix with its last character
incremented), so a folder of a million keys costs one row, not a million.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from email.utils import formatdate
from time import gmtime, strftime
from typing import TYPE_CHECKING
from urllib.parse import quote
from xml.sax.saxutils import escape

from .errors import S3Error

if TYPE_CHECKING:
    from .store import Obj, Store

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_KEYS = 1000  # S3's page size cap for ListObjectsV2
MAX_TOKEN = 2048  # characters in a continuation token (a base64 key of <= 1024 bytes fits)
MAX_DELIMITER = 64  # characters; S3 documents no limit, a folder separator is one or two
SCAN_BATCH = 256  # rows read from the index per query while folding prefixes


def _url(s: str) -> str:
    """``encoding-type=url``: keys as S3 sends them, so control characters survive XML."""
    return quote(s, safe="/")


def _iso(t: float) -> str:
    return strftime("%Y-%m-%dT%H:%M:%S.000Z", gmtime(t))


def list_buckets(buckets: list[tuple[str, float]]) -> bytes:
    items = "".join(f"<Bucket><Name>{escape(n)}</Name><CreationDate>{_iso(t)}</CreationDate></Bucket>"
                    for n, t in buckets)  # fmt: skip
    return (f'{HEAD}<ListAllMyBucketsResult xmlns="{NS}"><Owner><ID>syslab</ID></Owner>'
            f"<Buckets>{items}</Buckets></ListAllMyBucketsResult>").encode()  # fmt: skip


def _token(s: str | None) -> tuple[str, bool] | None:
    """A continuation token -> (where to resume, inclusive?)."""
    if not s:
        return None
    try:
        raw = base64.urlsafe_b64decode(s.encode()[:MAX_TOKEN]).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect") from None
    return raw[1:], raw[:1] == "i"


def _make_token(start: str, inclusive: bool) -> str:
    return base64.urlsafe_b64encode((("i" if inclusive else "x") + start).encode()).decode()


def _after_prefix(cp: str) -> str:
    """The smallest string greater than every string that starts with ``cp``.

    The last code point goes up by one, skipping the surrogates (no UTF-8 key holds one).
    """
    nxt = ord(cp[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:
        nxt = 0xE000
    return cp[:-1] + chr(nxt)


def list_objects(store: Store, bucket: str, args: dict[str, str]) -> bytes:
    prefix, delim = args.get("prefix", ""), args.get("delimiter", "")
    if len(delim) > MAX_DELIMITER or delim.endswith("\U0010ffff"):
        raise S3Error("InvalidArgument", "the delimiter is too long or ends in U+10FFFF")
    mk = args.get("max-keys", str(MAX_KEYS))
    if not mk.isdigit() or len(mk) > 9:
        raise S3Error("InvalidArgument", "max-keys must be a non-negative integer")
    max_keys = min(int(mk), MAX_KEYS)
    resume = _token(args.get("continuation-token")) or (args.get("start-after", ""), False)
    start, inclusive = resume
    keys: list[Obj] = []
    cps: list[str] = []
    truncated, nxt = False, None
    while len(keys) + len(cps) < max_keys + 1:
        rows = store.scan(bucket, start, inclusive, prefix, SCAN_BATCH)
        if not rows:
            break
        for o in rows:
            if len(keys) + len(cps) == max_keys:
                truncated = True
                break
            cut = o.key.find(delim, len(prefix)) if delim else -1
            if cut >= 0:
                cp = o.key[: cut + len(delim)]
                cps.append(cp)
                start, inclusive = _after_prefix(cp), True
                nxt = (start, True)
                break  # re-scan past the folded prefix
            keys.append(o)
            start, inclusive = o.key, False
            nxt = (start, False)
        if truncated:
            break
    url = args.get("encoding-type") == "url"
    enc = _url if url else escape
    body = [f'{HEAD}<ListBucketResult xmlns="{NS}"><Name>{escape(bucket)}</Name>',
            f"<Prefix>{enc(prefix)}</Prefix><KeyCount>{len(keys) + len(cps)}</KeyCount>",
            f"<MaxKeys>{max_keys}</MaxKeys><IsTruncated>{str(truncated).lower()}</IsTruncated>"]  # fmt: skip
    if url:
        body.append("<EncodingType>url</EncodingType>")
    if delim:
        body.append(f"<Delimiter>{enc(delim)}</Delimiter>")
    if "continuation-token" in args:
        body.append(f"<ContinuationToken>{escape(args['continuation-token'])}</ContinuationToken>")
    if "start-after" in args:
        body.append(f"<StartAfter>{enc(args['start-after'])}</StartAfter>")
    if truncated and nxt is not None:
        body.append(f"<NextContinuationToken>{_make_token(*nxt)}</NextContinuationToken>")
    for o in keys:
        body.append(f"<Contents><Key>{enc(o.key)}</Key><LastModified>{_iso(o.mtime)}</LastModified>"
                    f"<ETag>{escape(o.etag)}</ETag><Size>{o.size}</Size>"
                    "<StorageClass>STANDARD</StorageClass></Contents>")  # fmt: skip
    body += [f"<CommonPrefixes><Prefix>{enc(cp)}</Prefix></CommonPrefixes>" for cp in cps]
    body.append("</ListBucketResult>")
    return "".join(body).encode()


def initiated(bucket: str, key: str, uid: str) -> bytes:
    return (f'{HEAD}<InitiateMultipartUploadResult xmlns="{NS}"><Bucket>{escape(bucket)}</Bucket>'
            f"<Key>{escape(key)}</Key><UploadId>{uid}</UploadId></InitiateMultipartUploadResult>").encode()  # fmt: skip


def completed(bucket: str, key: str, etag: str) -> bytes:
    return (f'{HEAD}<CompleteMultipartUploadResult xmlns="{NS}"><Location>/{escape(bucket)}/{escape(key)}'
            f"</Location><Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<ETag>{escape(etag)}</ETag></CompleteMultipartUploadResult>").encode()  # fmt: skip


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """``<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>..`` -> [(1, etag)]."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:  # no entity tricks (billion laughs)
        raise S3Error("MalformedXML", "DTDs are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed") from None
    out = []
    for part in root:
        if part.tag.rsplit("}", 1)[-1] != "Part":
            continue
        fields = {c.tag.rsplit("}", 1)[-1]: (c.text or "") for c in part}
        num = fields.get("PartNumber", "")
        if not num.isdigit() or len(num) > 5 or "ETag" not in fields:
            raise S3Error("MalformedXML", "each Part needs a PartNumber and an ETag")
        out.append((int(num), fields["ETag"]))
    return out


__all__ = ["formatdate"]
