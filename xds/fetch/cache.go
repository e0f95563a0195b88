package fetch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// cache is the content-addressed module store:
//
//	<dir>/sha256/<hex sha256 of the module>.wasm   the modules
//	<dir>/index.json                               what is known about them
//
// The index maps (module name, checksum) to a module (for OCI the checksum is the manifest
// digest, so a pinned or already seen digest needs no network), remembers per tagged URL the
// checksum last pulled and the resource versions that pulled it (pull policy), and records each
// module's size and last use (eviction). It survives restarts, so a second control-plane start
// does not download again.
type cache struct {
	dir string
	max int64
	log *slog.Logger
	m   *counters

	mu    sync.Mutex
	idx   index
	inUse map[string]bool
}

type index struct {
	Blobs map[string]*blobEntry `json:"blobs"`
	Keys  map[string]string     `json:"keys"`
	Tags  map[string]*tagEntry  `json:"tags"`
}

type blobEntry struct {
	Size     int64     `json:"size"`
	LastUsed time.Time `json:"lastUsed"`
}

type tagEntry struct {
	Checksum string `json:"checksum"`
	// Versions maps a resource to the resourceVersion it last pulled this URL at.
	Versions map[string]string `json:"versions,omitempty"`
}

const indexFile = "index.json"

func openCache(dir string, max int64, log *slog.Logger, m *counters) (*cache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("module cache: %w", err)
	}
	c := &cache{dir: dir, max: max, log: log, m: m, inUse: map[string]bool{}}
	c.idx = index{Blobs: map[string]*blobEntry{}, Keys: map[string]string{}, Tags: map[string]*tagEntry{}}
	b, err := os.ReadFile(filepath.Join(dir, indexFile))
	switch {
	case err == nil:
		var idx index
		if err := json.Unmarshal(b, &idx); err != nil {
			log.Warn("module cache index unreadable; starting empty", "dir", dir, "error", err)
		} else {
			if idx.Blobs != nil {
				c.idx.Blobs = idx.Blobs
			}
			if idx.Keys != nil {
				c.idx.Keys = idx.Keys
			}
			if idx.Tags != nil {
				c.idx.Tags = idx.Tags
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("module cache: %w", err)
	}
	// Forget modules whose file is gone and remove files the index does not know (leftovers
	// of an interrupted write).
	for sum := range c.idx.Blobs {
		if _, err := os.Stat(c.path(sum)); err != nil {
			c.dropLocked(sum)
		}
	}
	if entries, err := os.ReadDir(filepath.Join(dir, "sha256")); err == nil {
		for _, e := range entries {
			sum, ok := strings.CutSuffix(e.Name(), ".wasm")
			if !ok || c.idx.Blobs[sum] == nil {
				os.Remove(filepath.Join(dir, "sha256", e.Name()))
			}
		}
	}
	c.m.setCache(c.bytesLocked(), len(c.idx.Blobs))
	return c, nil
}

func (c *cache) path(sum string) string { return filepath.Join(c.dir, "sha256", sum+".wasm") }

func key(moduleName, checksum string) string { return moduleName + "@" + checksum }

// lookup returns the module stored for (moduleName, checksum) after checking its bytes against
// its digest. A missing or corrupted file is dropped from the index and reported as a miss.
func (c *cache) lookup(moduleName, checksum string) (path, sum string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum, ok = c.idx.Keys[key(moduleName, checksum)]
	if !ok || c.idx.Blobs[sum] == nil {
		return "", "", false
	}
	if err := verifyFile(c.path(sum), sum); err != nil {
		c.m.corrupt.Add(1)
		c.log.Warn("module cache entry failed verification; fetching it again", "module", moduleName, "sha256", sum, "error", err)
		os.Remove(c.path(sum))
		c.dropLocked(sum)
		c.saveLocked()
		return "", "", false
	}
	c.idx.Blobs[sum].LastUsed = time.Now()
	c.saveLocked()
	return c.path(sum), sum, true
}

// verifyFile checks that the file's sha256 is sum.
func verifyFile(path, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("content has sha256 %s", got)
	}
	return nil
}

// tag returns what was last pulled for a tagged URL.
func (c *cache) tag(url string) (checksum string, versions map[string]string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.idx.Tags[url]
	if t == nil {
		return "", nil, false
	}
	v := make(map[string]string, len(t.Versions))
	for k, x := range t.Versions {
		v[k] = x
	}
	return t.Checksum, v, true
}

// recordTag remembers that resource (at resourceVersion) resolved url to checksum.
func (c *cache) recordTag(url, checksum, resource, resourceVersion string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.idx.Tags[url]
	if t == nil || t.Checksum != checksum {
		t = &tagEntry{Checksum: checksum}
		c.idx.Tags[url] = t
	}
	if resource != "" {
		if t.Versions == nil {
			t.Versions = map[string]string{}
		}
		t.Versions[resource] = resourceVersion
	}
	c.saveLocked()
}

// store writes a module and indexes it under (moduleName, checksum), evicting the least
// recently used modules not in use so that the cache stays within its bound.
func (c *cache) store(moduleName, checksum string, data []byte) (path, sum string, err error) {
	s := sha256.Sum256(data)
	sum = hex.EncodeToString(s[:])
	size := int64(len(data))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx.Blobs[sum] == nil || verifyFile(c.path(sum), sum) != nil {
		if size > c.max {
			return "", "", fmt.Errorf("module of %d bytes exceeds the cache bound of %d bytes", size, c.max)
		}
		if err := c.evictLocked(size); err != nil {
			return "", "", err
		}
		if err := writeAtomic(c.path(sum), data); err != nil {
			return "", "", err
		}
		c.idx.Blobs[sum] = &blobEntry{Size: size}
	}
	c.idx.Blobs[sum].LastUsed = time.Now()
	c.idx.Keys[key(moduleName, checksum)] = sum
	c.saveLocked()
	return c.path(sum), sum, nil
}

// evictLocked removes least recently used modules (those in use last) until size more bytes fit.
func (c *cache) evictLocked(size int64) error {
	total := c.bytesLocked()
	if total+size <= c.max {
		return nil
	}
	sums := make([]string, 0, len(c.idx.Blobs))
	for s := range c.idx.Blobs {
		sums = append(sums, s)
	}
	sort.Slice(sums, func(i, j int) bool {
		a, b := sums[i], sums[j]
		if c.inUse[a] != c.inUse[b] {
			return !c.inUse[a]
		}
		return c.idx.Blobs[a].LastUsed.Before(c.idx.Blobs[b].LastUsed)
	})
	for _, s := range sums {
		if total+size <= c.max {
			break
		}
		if c.inUse[s] {
			return fmt.Errorf("module of %d bytes does not fit in the cache bound of %d bytes: %d bytes are held by modules in use", size, c.max, total)
		}
		total -= c.idx.Blobs[s].Size
		c.log.Info("evicting module from cache", "sha256", s, "size", c.idx.Blobs[s].Size)
		os.Remove(c.path(s))
		c.dropLocked(s)
		c.m.evictions.Add(1)
	}
	return nil
}

// dropLocked forgets a module and every key that points at it.
func (c *cache) dropLocked(sum string) {
	delete(c.idx.Blobs, sum)
	for k, s := range c.idx.Keys {
		if s == sum {
			delete(c.idx.Keys, k)
		}
	}
	c.m.setCache(c.bytesLocked(), len(c.idx.Blobs))
}

func (c *cache) bytesLocked() int64 {
	var n int64
	for _, b := range c.idx.Blobs {
		n += b.Size
	}
	return n
}

// setInUse marks the modules the control plane currently serves; eviction takes them last.
func (c *cache) setInUse(sums []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inUse = make(map[string]bool, len(sums))
	for _, s := range sums {
		c.inUse[s] = true
	}
}

func (c *cache) saveLocked() {
	c.m.setCache(c.bytesLocked(), len(c.idx.Blobs))
	b, err := json.MarshalIndent(&c.idx, "", " ")
	if err == nil {
		err = writeAtomic(filepath.Join(c.dir, indexFile), b)
	}
	if err != nil {
		c.log.Warn("writing module cache index", "dir", c.dir, "error", err)
	}
}

// writeAtomic writes data to path through a temporary file in the same directory.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
