package lua

import (
	"strings"

	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"

	glua "github.com/yuin/gopher-lua"
)

// publicKey is the object importPublicKey returns. As in Envoy 1.39 its get() returns the key
// argument (as a C string: up to its first NUL byte) when the key parsed and nil when it did
// not; verifySignature takes that string and looks the parsed key up in the stream handle's
// key storage, which holds parsed keys only (so a bad key is an "invalid public key" error, or
// a type error for the nil).
type publicKey struct {
	d   *direction
	raw string
}

func (k *publicKey) dir() *direction { return k.d }

// cString is s up to its first NUL byte (what Envoy's const char* arguments see).
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// importPublicKeyMethod is handle:importPublicKey(keyder, keyderLength). Like Envoy, a second
// call before the next yield returns the first object, whatever its arguments.
func importPublicKeyMethod(L *glua.LState) int {
	d := checkHandle(L)
	str := L.CheckString(2)
	n := L.CheckInt(3)
	if d.pubKeyUD != nil {
		L.Push(d.pubKeyUD)
		return 1
	}
	der := str
	if n >= 0 && n < len(der) {
		der = der[:n]
	}
	raw := ""
	if key, err := x509.ParsePKIXPublicKey([]byte(der)); err == nil {
		id := cString(str)
		if n >= 0 && n < len(id) {
			id = id[:n]
		}
		if d.keys == nil {
			d.keys = map[string]any{}
		}
		if _, ok := d.keys[id]; !ok {
			d.keys[id] = key
		}
		raw = cString(str)
	}
	mt := L.CreateTable(0, 1)
	idx := L.CreateTable(0, 1)
	idx.RawSetString("get", L.NewFunction(func(L *glua.LState) int {
		ownerOf(L)
		if raw == "" {
			L.Push(glua.LNil)
		} else {
			L.Push(glua.LString(raw))
		}
		return 1
	}))
	mt.RawSetString("__index", idx)
	d.pubKeyUD = d.track(d.vm.newUD(&publicKey{d: d, raw: raw}, mt))
	L.Push(d.pubKeyUD)
	return 1
}

var hashes = map[string]crypto.Hash{
	"sha1": crypto.SHA1, "sha224": crypto.SHA224, "sha256": crypto.SHA256,
	"sha384": crypto.SHA384, "sha512": crypto.SHA512,
}

// verifySignatureMethod is handle:verifySignature(hash, pubkey, sig, sigLen, data, dataLen):
// (true, nil) or (false, message).
func verifySignatureMethod(L *glua.LState) int {
	d := checkHandle(L)
	name := L.CheckString(2)
	key, found := d.keys[L.CheckString(3)]
	if !found {
		L.RaiseError("invalid public key")
	}
	sig := prefix(L.CheckString(4), L.CheckInt(5))
	data := prefix(L.CheckString(6), L.CheckInt(7))
	fail := func(msg string) int {
		L.Push(glua.LFalse)
		L.Push(glua.LString(msg))
		return 2
	}
	h, ok := hashes[asciiLower(name)]
	if !ok {
		return fail(name + " is not supported.")
	}
	if key == nil {
		return fail("Failed to initialize digest verify.")
	}
	hh := h.New()
	hh.Write([]byte(data))
	sum := hh.Sum(nil)
	var err error
	switch key := key.(type) {
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
