// Package cachedir bounds wazero's on-disk compilation cache: the least recently written
// files go first, never one wazero may still be writing.
package cachedir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// cacheFileMinAge protects files wazero may still be writing (it writes a temporary file and
// renames it into place; removing it meanwhile would fail that compilation's cache write).
const cacheFileMinAge = time.Minute

type cacheFile struct {
	path string
	size int64
	mod  time.Time
}

// Prune keeps the regular files under dir (wazero's compilation cache: one file per
// compiled module, in a directory per wazero version and platform) within max bytes, removing
// the least recently written first, then the directories left empty. Files younger than
// cacheFileMinAge are never removed, so the cache can exceed max while they are. A module whose
// file was removed is compiled again at its next load. It returns the bytes kept and removed.
func Prune(dir string, max int64, now time.Time) (kept, removed int64, err error) {
	var files []cacheFile
	var dirs []string
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if p != dir {
				dirs = append(dirs, p)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		files = append(files, cacheFile{p, info.Size(), info.ModTime()})
		kept += info.Size()
		return nil
	})
	if walkErr != nil {
		return kept, 0, walkErr
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for _, f := range files {
		if kept <= max {
			break
		}
		if now.Sub(f.mod) < cacheFileMinAge {
			continue
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return kept, removed, err
		}
		kept -= f.size
		removed += f.size
	}
	for i := len(dirs) - 1; i >= 0; i-- { // deepest first
		_ = os.Remove(dirs[i]) // fails unless empty
	}
	return kept, removed, nil
}
