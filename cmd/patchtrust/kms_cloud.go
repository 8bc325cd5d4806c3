//go:build cloud

package main

// With the "cloud" build tag, the CLI signs with KMS keys (AWS KMS, Google
// Cloud KMS, Azure Key Vault, HashiCorp Vault) and publishes to S3, Google
// Cloud Storage and Azure Blob Storage:
//
//	go build -tags cloud ./cmd/patchtrust
//
// These providers pull in the cloud SDKs, so they stay out of the default
// build, and never reach the device side.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/patchtrust/patchtrust/blobpub"
	"github.com/patchtrust/patchtrust/tuf"
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
)

// kmsSigner returns the sigstore signer of a KMS key URI. ECDSA P-384 keys
// sign with SHA-384, everything else with SHA-256; tuf.NewSigner then
// checks the result with a probe signature.
func kmsSigner(ctx context.Context, ref string) (signature.Signer, error) {
	sv, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	pub, err := sv.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("get public key: %w", err)
	}
	if k, ok := pub.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P384() {
		return kms.Get(ctx, ref, crypto.SHA384)
	}
	return sv, nil
}

// openBucket opens a gocloud.dev bucket URL as a publisher.
func openBucket(ctx context.Context, url string) (tuf.Publisher, func() error, error) {
	p, err := blobpub.Open(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	return p, p.Close, nil
}

// cloudBuild reports whether this binary has the cloud providers.
const cloudBuild = true
