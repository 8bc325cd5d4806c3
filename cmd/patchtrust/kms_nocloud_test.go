//go:build !cloud

package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKMSNotBuiltIn(t *testing.T) {
	t.Parallel()
	for _, ref := range []string{"awskms:///alias/tuf-targets", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "azurekms://vault.vault.azure.net/key", "hashivault://tuf"} {
		_, err := loadSigner(context.Background(), ref)
		require.ErrorContains(t, err, "KMS keys are not built into this binary (build it with -tags cloud)", ref)
	}
}
