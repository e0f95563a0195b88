package lua

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"

	glua "github.com/yuin/gopher-lua"
)

// publicKey is the object importPublicKey returns. As in Envoy v1.36.2 its get() returns the
// raw key argument even when the key did not parse; the bad key only shows in verifySignature.
type publicKey struct {
	d   *direction
	raw string
	key any
}

func (k *publicKey) dir() *direction { return k.d }

// importPublicKeyMethod is handle:importPublicKey(keyder, keyderLength).
func importPublicKeyMethod(L *glua.LState) int {
	d := checkHandle(L)
	der := L.CheckString(2)
	n := L.OptInt(3, len(der))
	if n >= 0 && n < len(der) {
		der = der[:n]
	}
	k := &publicKey{d: d, raw: der}
	if key, err := x509.ParsePKIXPublicKey([]byte(der)); err == nil {
		k.key = key
	}
	mt := L.CreateTable(0, 1)
	idx := L.CreateTable(0, 1)
	idx.RawSetString("get", L.NewFunction(func(L *glua.LState) int {
		ownerOf(L)
		L.Push(glua.LString(k.raw))
		return 1
	}))
	mt.RawSetString("__index", idx)
	L.Push(d.vm.newUD(k, mt))
	return 1
}

var hashes = map[string]crypto.Hash{
	"sha1": crypto.SHA1, "sha224": crypto.SHA224, "sha256": crypto.SHA256,
	"sha384": crypto.SHA384, "sha512": crypto.SHA512,
}

// verifySignatureMethod is handle:verifySignature(hash, pubkey, sig, sigLen, data, dataLen):
// (true, nil) or (false, message).
func verifySignatureMethod(L *glua.LState) int {
	checkHandle(L)
	name := L.CheckString(2)
	ud := L.CheckUserData(3)
	sig := prefix(L.CheckString(4), L.OptInt(5, -1))
	data := prefix(L.CheckString(6), L.OptInt(7, -1))
	fail := func(msg string) int {
		L.Push(glua.LFalse)
		L.Push(glua.LString(msg))
		return 2
	}
	h, ok := hashes[asciiLower(name)]
	if !ok {
		return fail(name + " is not supported.")
	}
	k, ok := ud.Value.(*publicKey)
	if !ok || k.key == nil {
		return fail("Failed to initialize digest verify.")
	}
	hh := h.New()
	hh.Write([]byte(data))
	sum := hh.Sum(nil)
	var err error
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		err = rsa.VerifyPKCS1v15(key, h, sum, []byte(sig))
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(key, sum, []byte(sig)) {
			err = rsa.ErrVerification
		}
	default:
		return fail("Failed to initialize digest verify.")
	}
	if err != nil {
		return fail("Failed to verify digest. Error code: 0")
	}
	L.Push(glua.LTrue)
	L.Push(glua.LNil)
	return 2
}

func prefix(s string, n int) string {
	if n >= 0 && n < len(s) {
		return s[:n]
	}
	return s
}
