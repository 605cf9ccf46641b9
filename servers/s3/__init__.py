"""An S3-compatible object store that verifies AWS Signature Version 4 (exercise N10).

Layout:
    sigv4.py    sans-IO SigV4: canonical request, signing key, header and pre-signed forms
    sigv2.py    SigV2 pre-signed URLs (boto3's default presigner in us-east-1), HMAC-SHA1
    chunked.py  sans-IO aws-chunked decoder (STREAMING-UNSIGNED-PAYLOAD-TRAILER)
    errors.py   S3's error codes, statuses and XML error documents
    store.py    buckets, objects, multipart uploads on disk (SQLite index + blobs)
    xml.py      ListBuckets / ListObjectsV2 / multipart XML bodies, CompleteMultipartUpload parser
    post.py     browser POST uploads: multipart/form-data parser and the signed policy check
    presign.py  making pre-signed URLs; the ``POST /_presign`` app route
    app.py      the S3 routes on netlib.http (path-style: /BUCKET/KEY), CORS
    __main__.py flags, credentials file, serve
    FORMAT.md   the on-disk layout

What is not here: virtual-host addressing, CopyObject, versioning, ACLs and
bucket policies, the signed aws-chunked variant (STREAMING-AWS4-HMAC-SHA256-PAYLOAD),
the SigV2 header form, CRC32C/CRC64NVME/SHA1 checksums (refused, not ignored).
"""
