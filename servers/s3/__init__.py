"""An S3-compatible object store that verifies AWS Signature Version 4 (exercise N10).

Layout:
    sigv4.py    sans-IO SigV4: canonical request, signing key, header and pre-signed forms
    errors.py   S3's error codes, statuses and XML error documents
    store.py    buckets, objects, multipart uploads on disk (SQLite index + blobs)
    xml.py      ListBuckets / ListObjectsV2 / multipart XML bodies, CompleteMultipartUpload parser
    post.py     browser POST uploads: multipart/form-data parser and the signed policy check
    presign.py  making pre-signed URLs; the ``POST /_presign`` app route
    app.py      the S3 routes on netlib.http (path-style: /BUCKET/KEY), CORS
    __main__.py flags, credentials file, serve
"""
