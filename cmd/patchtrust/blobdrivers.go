package main

// Bucket drivers that "publish --to URL" can always use. Builds with -tags
// cloud add s3://, gs:// and azblob:// (see kms_cloud.go).
import (
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"
)
