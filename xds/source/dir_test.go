package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDir_WatchEmitsSnapshots(t *testing.T) {
	dir := t.TempDir()
	doc := func(name string) []byte {
		return []byte(header + "metadata: {name: " + name + "}\nspec: {lua: {inlineCode: x}}\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), doc("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	snaps := make(chan Snapshot, 16)
	done := make(chan error, 1)
	go func() { done <- NewDir(dir, nil).Run(ctx, func(s Snapshot) { snaps <- s }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	next := func() Snapshot {
		t.Helper()
		select {
		case s := <-snaps:
			return s
		case <-time.After(2 * time.Second):
			t.Fatal("no snapshot within 2s")
			return Snapshot{}
		}
	}
	names := func(s Snapshot) (out []string) {
		for _, e := range s.Extensions() {
			out = append(out, e.Name)
		}
		return out
	}
	if got := names(next()); len(got) != 1 || got[0] != "a" {
		t.Fatalf("initial = %v", got)
	}

	// A burst of writes yields one snapshot with the final content.
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(filepath.Join(dir, "b.yml"), doc("b"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(next()); len(got) != 2 || got[1] != "b" {
		t.Fatalf("after create = %v", got)
	}
	// Other files are ignored.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Atomic replace by rename (as editors do).
	tmp := filepath.Join(dir, ".a.yaml.swp")
	if err := os.WriteFile(tmp, doc("a2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	if got := names(next()); len(got) != 2 || got[0] != "a2" {
		t.Fatalf("after rename = %v", got)
	}
	if err := os.Remove(filepath.Join(dir, "b.yml")); err != nil {
		t.Fatal(err)
	}
	if got := names(next()); len(got) != 1 {
		t.Fatalf("after remove = %v", got)
	}
	// Rewriting identical bytes emits nothing.
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), doc("a2"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-snaps:
		t.Fatalf("unexpected snapshot %v", names(s))
	case <-time.After(300 * time.Millisecond):
	}
}

func TestDir_MissingDirectory(t *testing.T) {
	err := NewDir(filepath.Join(t.TempDir(), "nope"), nil).Run(context.Background(), func(Snapshot) {})
	if err == nil {
		t.Fatal("no error for a missing directory")
	}
}
