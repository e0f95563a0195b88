package cachedir

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPruneCache(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	type file struct {
		name string
		size int
		age  time.Duration
	}
	tests := []struct {
		name        string
		files       []file
		max         int64
		wantLeft    []string
		wantRemoved int64
	}{
		{"under the limit: nothing removed", []file{{"v1/a", 10, time.Hour}, {"v1/b", 10, 2 * time.Hour}}, 100, []string{"v1/a", "v1/b"}, 0},
		{"oldest written first", []file{{"v1/a", 40, time.Hour}, {"v1/b", 40, 3 * time.Hour}, {"v1/c", 40, 2 * time.Hour}}, 80, []string{"v1/a", "v1/c"}, 40},
		{"old versions' directories go when emptied", []file{{"old/a", 50, 48 * time.Hour}, {"new/b", 50, time.Hour}}, 60, []string{"new/b"}, 50},
		{"files being written are kept even over the limit", []file{{"v1/a", 50, 10 * time.Second}, {"v1/b", 50, 20 * time.Second}}, 10, []string{"v1/a", "v1/b"}, 0},
		{"exactly at the limit", []file{{"v1/a", 50, time.Hour}, {"v1/b", 50, 2 * time.Hour}}, 100, []string{"v1/a", "v1/b"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(dir, f.name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, make([]byte, f.size), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, now.Add(-f.age), now.Add(-f.age)); err != nil {
					t.Fatal(err)
				}
			}
			_, removed, err := Prune(dir, tt.max, now)
			if err != nil {
				t.Fatal(err)
			}
			if removed != tt.wantRemoved {
				t.Errorf("removed %d bytes, want %d", removed, tt.wantRemoved)
			}
			var left []string
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(dir, p)
					left = append(left, filepath.ToSlash(rel))
				}
				return nil
			})
			if len(left) != len(tt.wantLeft) {
				t.Fatalf("left %v, want %v", left, tt.wantLeft)
			}
			for i := range left {
				if left[i] != tt.wantLeft[i] {
					t.Errorf("left %v, want %v", left, tt.wantLeft)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "old")); tt.name == "old versions' directories go when emptied" && err == nil {
				t.Error("the emptied directory is still there")
			}
		})
	}
	if _, _, err := Prune(filepath.Join(t.TempDir(), "missing"), 1, now); err != nil {
		t.Errorf("missing directory: %v", err)
	}
}
