package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trafficext/trafficext/xds/model"
)

// Source produces the TrafficExtension resources the control plane serves.
type Source interface {
	// Run calls emit with a full Snapshot once at start and again after every change, until
	// ctx ends. emit is never called concurrently. Run returns nil when ctx ends, or an error
	// when the source cannot work at all (for example the directory does not exist).
	Run(ctx context.Context, emit func(Snapshot)) error
}

// Snapshot is everything a source holds at one moment, file by file.
type Snapshot struct {
	// Files are sorted by path.
	Files []File
}

// File is what one file held.
type File struct {
	Path string
	// Extensions are the TrafficExtension documents of the file, in file order.
	Extensions []*model.Extension
	// Notes are informational messages (documents of other kinds that were skipped).
	Notes []string
	// Secrets are the core v1 Secrets of the file (image pull secrets; see secret.go).
	Secrets []Secret
	// Err is set when the file could not be read or parsed; Extensions is then empty and the
	// file's previous resources are unknown.
	Err error
	// Hash is a hash of the file's bytes.
	Hash string
}

// Extensions returns the extensions of every readable file, in file order.
func (s Snapshot) Extensions() []*model.Extension {
	var out []*model.Extension
	for _, f := range s.Files {
		out = append(out, f.Extensions...)
	}
	return out
}

// Errors returns the errors of files that could not be read or parsed.
func (s Snapshot) Errors() []error {
	var out []error
	for _, f := range s.Files {
		if f.Err != nil {
			out = append(out, f.Err)
		}
	}
	return out
}

// equal reports whether both snapshots hold the same files with the same bytes.
func (s Snapshot) equal(o Snapshot) bool {
	if len(s.Files) != len(o.Files) {
		return false
	}
	for i := range s.Files {
		a, b := s.Files[i], o.Files[i]
		if a.Path != b.Path || a.Hash != b.Hash || (a.Err == nil) != (b.Err == nil) {
			return false
		}
	}
	return true
}

// IsConfigFile reports whether a file name is one the directory source reads: *.yaml, *.yml
// or *.json, not hidden (editors and Kubernetes ConfigMap mounts use dot files).
func IsConfigFile(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// LoadFile reads and decodes one file.
func LoadFile(path string) File {
	f := File{Path: path}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Err = &model.Error{File: path, Msg: "reading: " + unwrapPathError(err)}
		return f
	}
	return decodeFile(path, data)
}

func decodeFile(path string, data []byte) File {
	f := File{Path: path}
	f.Hash = fileHash(data)
	f.Extensions, f.Notes, f.Err = Decode(path, data)
	if f.Err == nil {
		var notes []string
		f.Secrets, notes = decodeSecrets(path, data)
		f.Notes = append(f.Notes, notes...)
	}
	return f
}

func fileHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

func unwrapPathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// LoadFiles reads the given files (any extension), in the order given by path.
func LoadFiles(paths []string) Snapshot {
	var s Snapshot
	for _, p := range paths {
		s.Files = append(s.Files, LoadFile(p))
	}
	sort.SliceStable(s.Files, func(i, j int) bool { return s.Files[i].Path < s.Files[j].Path })
	return s
}

// LoadDir reads every config file (see IsConfigFile) directly inside dir; subdirectories are
// not read. The error is set only when the directory itself cannot be listed.
func LoadDir(dir string) (Snapshot, error) {
	paths, err := configFiles(dir)
	if err != nil {
		return Snapshot{}, err
	}
	return LoadFiles(paths), nil
}

func configFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		if e.IsDir() || !IsConfigFile(e.Name()) {
			continue
		}
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	return paths, nil
}

// dirCache keeps the decoded files of a watched directory by path, so that a change decodes
// only the files whose bytes changed (decoding dominates a reload of thousands of files).
type dirCache map[string]File

// load is LoadDir reusing the decoded files whose bytes did not change; it replaces the
// cache's content with what it read.
func (c dirCache) load(dir string) (Snapshot, error) {
	paths, err := configFiles(dir)
	if err != nil {
		return Snapshot{}, err
	}
	var s Snapshot
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		seen[p] = true
		data, err := os.ReadFile(p)
		if err != nil {
			f := File{Path: p, Err: &model.Error{File: p, Msg: "reading: " + unwrapPathError(err)}}
			delete(c, p)
			s.Files = append(s.Files, f)
			continue
		}
		f, ok := c[p]
		if !ok || f.Hash != fileHash(data) {
			f = decodeFile(p, data)
			c[p] = f
		}
		s.Files = append(s.Files, f)
	}
	for p := range c {
		if !seen[p] {
			delete(c, p)
		}
	}
	sort.SliceStable(s.Files, func(i, j int) bool { return s.Files[i].Path < s.Files[j].Path })
	return s, nil
}

// LoadFS reads every config file at the root of fsys (an embedded directory, for example).
// Messages name the files as path.Join(label, name).
func LoadFS(fsys fs.FS, label string) (Snapshot, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return Snapshot{}, err
	}
	var s Snapshot
	for _, e := range entries {
		if e.IsDir() || !IsConfigFile(e.Name()) {
			continue
		}
		name := path.Join(label, e.Name())
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			s.Files = append(s.Files, File{Path: name, Err: &model.Error{File: name, Msg: "reading: " + unwrapPathError(err)}})
			continue
		}
		s.Files = append(s.Files, decodeFile(name, data))
	}
	return s, nil
}

// Static is a Source that serves one fixed snapshot.
type Static Snapshot

var _ Source = Static{}

// Run emits the snapshot once and waits for ctx to end.
func (s Static) Run(ctx context.Context, emit func(Snapshot)) error {
	emit(Snapshot(s))
	<-ctx.Done()
	return nil
}
