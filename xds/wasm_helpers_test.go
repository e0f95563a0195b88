package xds_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

func fetchtestSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func removeFile(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}
