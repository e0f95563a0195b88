package source_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/source/sourcetest"
)

// dirHarness keeps each object in its own file of a watched directory.
type dirHarness struct{ dir string }

func (h dirHarness) path(o sourcetest.Object) string {
	return filepath.Join(h.dir, strings.ToLower(o.Kind)+"-"+o.Namespace+"-"+o.Name+".yaml")
}

// Apply writes a hidden file and renames it, so the watcher never reads half a file.
func (h dirHarness) Apply(t *testing.T, o sourcetest.Object) {
	tmp := filepath.Join(h.dir, ".tmp-"+filepath.Base(h.path(o)))
	if err := os.WriteFile(tmp, []byte(o.YAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, h.path(o)); err != nil {
		t.Fatal(err)
	}
}

func (h dirHarness) Delete(t *testing.T, o sourcetest.Object) {
	if err := os.Remove(h.path(o)); err != nil {
		t.Fatal(err)
	}
}

func (h dirHarness) Source(*testing.T) source.Source {
	return &source.Dir{Path: h.dir, Debounce: 20 * time.Millisecond}
}

func TestDir_Contract(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness { return dirHarness{dir: t.TempDir()} })
}
