package wasm

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	// Hash implementations for crypto.Hash.New.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Envoy's foreign functions (source/extensions/common/wasm/foreign.cc in v1.36.2) that need no
// more than the stream: compress, uncompress, verify_signature.

// zlibCompress is Envoy's "compress" foreign function: zlib's compress() (a zlib stream at the
// default level). The bytes may differ from C zlib's; any zlib decoder reads both.
func zlibCompress(in []byte) ([]byte, error) {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	if _, err := w.Write(in); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// zlibUncompress is Envoy's "uncompress" foreign function: zlib's uncompress() of one whole
// zlib stream. Output beyond limit (the guest's memory limit; Envoy has none) fails like a
// corrupt stream.
func zlibUncompress(in []byte, limit int64) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, errors.New("uncompressed data exceeds the guest memory limit")
	}
	return out, r.Close()
}

// verifySignature is Envoy's "verify_signature" foreign function. args is a serialized
// envoy.source.extensions.common.wasm.VerifySignatureArguments {1 hash_function string,
// 2 public_key bytes (SubjectPublicKeyInfo DER), 3 signature bytes, 4 text bytes}; the result
// is a serialized VerifySignatureResult {1 result bool, 2 error string} with Envoy's error
// texts (common/crypto/utility_impl.cc). ok is false when args do not parse (BAD_ARGUMENT).
// Like BoringSSL's EVP_DigestVerify with a digest: RSA keys verify PKCS #1 v1.5, ECDSA keys
// ASN.1 signatures; other key types (Ed25519, X25519) fail to initialise.
func verifySignature(args []byte) (out []byte, ok bool) {
	var hashName string
	var key, sig, text []byte
	for len(args) > 0 {
		num, typ, n := protowire.ConsumeTag(args)
		if n < 0 {
			return nil, false
		}
		args = args[n:]
		if typ != protowire.BytesType || num > 4 {
			// Unknown fields, and known ones with another wire type, are skipped (as C++).
			n = protowire.ConsumeFieldValue(num, typ, args)
			if n < 0 {
				return nil, false
			}
			args = args[n:]
			continue
		}
		b, n := protowire.ConsumeBytes(args)
		if n < 0 {
			return nil, false
		}
		args = args[n:]
		switch num {
		case 1:
			if !utf8.Valid(b) {
				return nil, false
			}
			hashName = string(b)
		case 2:
			key = b
		case 3:
			sig = b
		case 4:
			text = b
		}
	}
	verified, msg := verifyDigest(hashName, key, sig, text)
	if verified {
		out = protowire.AppendTag(out, 1, protowire.VarintType)
		out = protowire.AppendVarint(out, 1)
	}
	if msg != "" {
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendString(out, msg)
	}
	return out, true
}

func verifyDigest(hashName string, key, sig, text []byte) (bool, string) {
	var h crypto.Hash
	switch strings.ToLower(hashName) {
	case "sha1":
		h = crypto.SHA1
	case "sha224":
		h = crypto.SHA224
	case "sha256":
		h = crypto.SHA256
	case "sha384":
		h = crypto.SHA384
	case "sha512":
		h = crypto.SHA512
	default:
		return false, hashName + " is not supported."
	}
	pub, err := x509.ParsePKIXPublicKey(key)
	if err != nil {
		return false, "Failed to initialize digest verify."
	}
	d := h.New()
	d.Write(text)
	digest := d.Sum(nil)
	var good bool
	switch k := pub.(type) {
	case *rsa.PublicKey:
		good = rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
	case *ecdsa.PublicKey:
		good = ecdsa.VerifyASN1(k, digest, sig)
	default:
		return false, "Failed to initialize digest verify."
	}
	if !good {
		return false, "Failed to verify digest. Error code: 0"
	}
	return true, ""
}

// extForeign are Envoy's foreign functions that work on the context's properties and filter
// state: declare_property (declared.go), set_envoy_filter_state (envoystate.go) and the CEL
// functions (cel.go). Each returns its result bytes and a status.
var extForeign = map[string]func(v *vm, args []byte) ([]byte, status){
	"declare_property":       func(v *vm, a []byte) ([]byte, status) { return nil, v.declareProperty(a) },
	"set_envoy_filter_state": func(v *vm, a []byte) ([]byte, status) { return nil, v.setEnvoyFilterState(a) },
	"expr_create":            (*vm).exprCreate,
	"expr_evaluate":          (*vm).exprEvaluate,
	"expr_delete":            func(v *vm, a []byte) ([]byte, status) { return nil, v.exprDelete(a) },
}
