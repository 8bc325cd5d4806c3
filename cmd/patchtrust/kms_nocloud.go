//go:build !cloud

package main

import (
	"context"
	"errors"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchtrust/patchtrust/tuf"
)

// kmsSigner reports that KMS providers are not compiled in; build with
// -tags cloud to include them.
func kmsSigner(ctx context.Context, ref string) (signature.Signer, error) {
	return nil, withCode("key", errors.New("KMS keys are not built into this binary (build it with -tags cloud), or sign with a key file"))
}

// openBucket reports that object storage is not compiled in; build with
// -tags cloud to publish to a bucket URL.
func openBucket(ctx context.Context, url string) (tuf.Publisher, func() error, error) {
	return nil, nil, withCode("usage", errors.New("publishing to a bucket URL is not built into this binary (build it with -tags cloud), or publish to a directory"))
}

// cloudBuild reports whether this binary has the cloud providers.
const cloudBuild = false
