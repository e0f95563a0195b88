package core

import "testing"

func TestHTTPToGRPCStatus(t *testing.T) {
	for code, want := range map[int64]int64{200: 2, 400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14, 500: 2} {
		if got := HTTPToGRPCStatus(code); got != want {
			t.Errorf("%d: %d, want %d", code, got, want)
		}
	}
}
