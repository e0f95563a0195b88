package source

import (
	"context"
	"os"
	"path/filepath"
	"slices"
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
	names := func(s Snapshot) (out []string) {
		for _, e := range s.Extensions() {
			out = append(out, e.Name)
		}
		return out
	}
	// await reads snapshots until one has the wanted names. A loaded machine may split a burst
	// of writes over two debounce windows (or see a file between truncate and write), so
	// intermediate snapshots are allowed; the final state must arrive within the deadline.
	await := func(what string, want ...string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		var last []string
		for {
			select {
			case s := <-snaps:
				last = names(s)
				if slices.Equal(last, want) {
					return
				}
			case <-deadline:
				t.Fatalf("%s: no snapshot with %v within 5s (last %v)", what, want, last)
			}
		}
	}
	await("initial", "a")

	// A burst of writes ends in a snapshot with the final content (debounced: usually one).
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(filepath.Join(dir, "b.yml"), doc("b"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	await("after create", "a", "b")
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
	await("after rename", "a2", "b")
	if err := os.Remove(filepath.Join(dir, "b.yml")); err != nil {
		t.Fatal(err)
	}
	await("after remove", "a2")
	// Replacing a file with identical bytes emits nothing (written beside it and renamed over
	// it, so the watcher never sees a half-written file).
	if err := os.WriteFile(tmp, doc("a2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "a.yaml")); err != nil {
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
