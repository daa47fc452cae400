#!/bin/sh
# Run once by the `minio-setup` service (image minio/mc) after MinIO is up, and harmless to re-run:
# the bucket, private; the app's own user, allowed that one bucket and nothing else (never the
# root credentials in the app).
set -eu
mc alias set root http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "root/$S3_BUCKET"
mc anonymous set none "root/$S3_BUCKET"
cat > /tmp/messenger-media.json <<POLICY
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
     "Resource": ["arn:aws:s3:::$S3_BUCKET"]},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                   "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::$S3_BUCKET/*"]}
  ]
}
POLICY
mc admin policy create root messenger-media /tmp/messenger-media.json
mc admin user add root "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
mc admin policy attach root messenger-media --user "$S3_ACCESS_KEY" || true  # already attached
echo "minio-setup: bucket $S3_BUCKET and user $S3_ACCESS_KEY ready"
