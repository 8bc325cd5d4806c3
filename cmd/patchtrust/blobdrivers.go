package main

// Bucket drivers that "publish --to URL" can use.
import (
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"
)
