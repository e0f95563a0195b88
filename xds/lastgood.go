package xds

import (
	"sort"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/validate"
)

// lastGood keeps, per resource, the last valid version seen, so that a bad edit never takes an
// extension away or replaces it with something broken.
type lastGood struct {
	good map[model.Key]*model.Extension
}

// Outcome is the result of applying one snapshot.
type outcome struct {
	// serve is the set to serve, sorted by key.
	serve []*model.Extension
	// problems are the current errors and warnings (file errors and resource problems).
	problems []error
	// stale are the resources served from a previous version because the current one is
	// invalid or its file is unreadable.
	stale []model.Key
	// rejected are Wasm resources whose module does not start and that have no earlier
	// version to serve (the Wasm stage; their fail strategy applies).
	rejected []model.Key
}

func newLastGood() *lastGood { return &lastGood{good: map[model.Key]*model.Extension{}} }

// apply computes what to serve for a snapshot:
//   - a valid resource is served and remembered;
//   - an invalid resource keeps its last valid version, or is absent when there is none;
//   - every resource last read from a file that is now malformed or unreadable keeps its last
//     valid version;
//   - a resource that is gone from a readable file is dropped.
func (l *lastGood) apply(snap source.Snapshot, opts validate.Options) outcome {
	var out outcome
	next := map[model.Key]*model.Extension{}
	failedFiles := map[string]bool{}
	var invalid []model.Key
	for _, v := range evaluate(snap, opts) {
		if v.fileErr != nil {
			failedFiles[v.file] = true
			out.problems = append(out.problems, v.fileErr)
			continue
		}
		for _, p := range v.problems {
			out.problems = append(out.problems, p)
		}
		if v.valid() {
			next[v.ext.Key] = v.ext
		} else if _, dup := next[v.ext.Key]; !dup {
			invalid = append(invalid, v.ext.Key)
		}
	}
	keep := func(k model.Key) {
		if _, ok := next[k]; ok {
			return
		}
		if prev, ok := l.good[k]; ok {
			next[k] = prev
			out.stale = append(out.stale, k)
		}
	}
	for _, k := range invalid {
		keep(k)
	}
	for k, prev := range l.good {
		if failedFiles[prev.File] {
			keep(k)
		}
	}
	l.good = next
	for _, e := range next {
		out.serve = append(out.serve, e)
	}
	sort.Slice(out.serve, func(i, j int) bool { return out.serve[i].Key.Less(out.serve[j].Key) })
	sort.Slice(out.stale, func(i, j int) bool { return out.stale[i].Less(out.stale[j]) })
	return out
}
