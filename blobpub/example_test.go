package blobpub_test

import (
	"context"
	"fmt"
	"strings"

	"gocloud.dev/blob/memblob"

	"github.com/patchtrust/patchtrust/blobpub"
)

func ExampleNew() {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil) // in production: s3blob, gcsblob or azureblob
	defer bucket.Close()
	pub := blobpub.New(bucket, "fleet-a")
	// A repository calls Put for every file it publishes: tuf.Repository.Publish(ctx, pub).
	if err := pub.Put(ctx, "metadata/timestamp.json", strings.NewReader("{}")); err != nil {
		panic(err)
	}
	ok, _ := bucket.Exists(ctx, "fleet-a/metadata/timestamp.json")
	fmt.Println(ok)
	// Output: true
}

func ExampleOpen() {
	ctx := context.Background()
	pub, err := blobpub.Open(ctx, "mem://")
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	fmt.Println(pub)
	// Output: mem://
}
