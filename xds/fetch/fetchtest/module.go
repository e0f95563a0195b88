package fetchtest

import "encoding/base64"

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Module returns a small valid Wasm binary (the header and one custom section named
// "trafficext" holding tag), so that different tags give different modules.
func Module(tag string) []byte {
	name := "trafficext"
	payload := append([]byte{byte(len(name))}, name...)
	payload = append(payload, tag...)
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 0) // custom section
	b = appendULEB(b, uint32(len(payload)))
	return append(b, payload...)
}

func appendULEB(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}
