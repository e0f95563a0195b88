package fetch

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// pullHTTP downloads a module over http(s), with retries, and unboxes it.
func (f *Fetcher) pullHTTP(ctx context.Context, loc *location, want string, fail func(Reason, error) error) (Module, error) {
	client := &http.Client{Transport: f.transport(loc.registry), Timeout: f.opts.RequestTimeout}
	start := time.Now()
	f.log.Info("downloading Wasm module", "url", loc.raw)
	var body []byte
	err := f.retry(ctx, loc, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.raw, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "trafficext")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			return &statusError{code: resp.StatusCode, url: loc.raw}
		}
		body, err = readLimited(resp.Body, f.opts.MaxModuleBytes)
		return err
	})
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return Module{}, fail(ReasonTooLarge, err)
		}
		return Module{}, fail(classify(err), err)
	}
	data, err := unbox(body, f.opts.MaxModuleBytes)
	if err != nil {
		return Module{}, fail(ReasonTooLarge, err)
	}
	mod, err := f.finish(loc, want, "", data, fail)
	if err != nil {
		return Module{}, err
	}
	f.m.downloads.Add(1)
	f.log.Info("downloaded Wasm module", "url", loc.raw, "sha256", mod.SHA256, "bytes", len(data), "took", time.Since(start).Round(time.Millisecond))
	return mod, nil
}

// unbox peels gzip and tar (first file) wrappers until the bytes are a Wasm binary, as Istio
// does; when they never become one the original bytes are returned (and fail the Wasm check).
func unbox(b []byte, max int64) ([]byte, error) {
	orig := b
	for range 4 {
		switch {
		case isWasm(b):
			return b, nil
		case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return orig, nil
			}
			nb, err := readLimited(zr, max)
			if err != nil {
				if errors.Is(err, errTooLarge) {
					return nil, fmt.Errorf("decompressed module: %w", err)
				}
				return orig, nil
			}
			b = nb
		case len(b) >= 262 && string(b[257:262]) == "ustar":
			tr := tar.NewReader(bytes.NewReader(b))
			found := false
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				if h.Typeflag != tar.TypeReg && h.Typeflag != 0 {
					continue
				}
				nb, err := readLimited(tr, max)
				if err != nil {
					return orig, nil
				}
				b, found = nb, true
				break
			}
			if !found {
				return orig, nil
			}
		default:
			return orig, nil
		}
	}
	return orig, nil
}
