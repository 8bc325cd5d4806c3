//go:build !cloud

package main

import (
	"context"
	"errors"

	"github.com/sigstore/sigstore/pkg/signature"
)

// kmsSigner reports that KMS providers are not compiled in; build with
// -tags cloud to include them.
func kmsSigner(ctx context.Context, ref string) (signature.Signer, error) {
	return nil, errors.New("KMS keys are not built into this binary (build it with -tags cloud), or sign with a key file")
}
