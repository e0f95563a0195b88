package xds

import (
	"fmt"
	"os"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/translate"
	"github.com/trafficext/trafficext/xds/validate"
)

// Report is the outcome of checking a set of files.
type Report struct {
	// Errors make files or resources invalid; Warnings do not. Both are *model.Error values
	// whose text names file, resource and field.
	Errors, Warnings []error
	// Notes are informational (documents of other kinds that were skipped).
	Notes []string
	// Valid counts the TrafficExtension resources without errors.
	Valid int
}

// CheckOptions tune CheckFiles.
type CheckOptions struct {
	// RootNamespace is the config root namespace; "" means istio-system.
	RootNamespace string
	// Binding is the filter hosting trafficext in the proxies (translate.Options.Binding):
	// what it cannot host is an error.
	Binding translate.Binding
}

// ValidateFiles checks TrafficExtension files as the running control plane does and returns
// its error messages, one per problem (warnings are left out; see CheckFiles). An empty result
// means every file and resource is valid. A directory stands for the config files directly
// inside it (*.yaml, *.yml, *.json), as the control plane reads them.
func ValidateFiles(paths []string) []error {
	return CheckFiles(paths, CheckOptions{}).Errors
}

// CheckFiles checks TrafficExtension files and reports errors, warnings and notes.
func CheckFiles(paths []string, opts CheckOptions) Report {
	var r Report
	snap := source.LoadFiles(expand(paths))
	for _, f := range snap.Files {
		r.Notes = append(r.Notes, f.Notes...)
	}
	for _, v := range evaluate(snap, validate.Options{RootNamespace: opts.RootNamespace, Binding: opts.Binding}) {
		if v.fileErr != nil {
			r.Errors = append(r.Errors, v.fileErr)
			continue
		}
		errs, warns := validate.Split(v.problems)
		for _, e := range errs {
			r.Errors = append(r.Errors, e)
		}
		for _, w := range warns {
			r.Warnings = append(r.Warnings, w)
		}
		if len(errs) == 0 {
			r.Valid++
		}
	}
	return r
}

// verdict is the judgement on one file (fileErr set) or one resource.
type verdict struct {
	file     string
	fileErr  error
	ext      *model.Extension
	problems []*model.Error
}

func (v verdict) valid() bool { return v.fileErr == nil && !validate.HasErrors(v.problems) }

// evaluate validates every resource of a snapshot, in file order, and reports a resource
// defined again (same namespace/name) after its first definition as an error.
func evaluate(snap source.Snapshot, opts validate.Options) []verdict {
	var out []verdict
	first := map[model.Key]*model.Extension{}
	for _, f := range snap.Files {
		if f.Err != nil {
			out = append(out, verdict{file: f.Path, fileErr: f.Err})
			continue
		}
		for _, e := range f.Extensions {
			v := verdict{file: f.Path, ext: e, problems: validate.Extension(e, opts)}
			if prev, dup := first[e.Key]; dup {
				v.problems = append(v.problems, e.Errorf("metadata.name", 0,
					fmt.Sprintf("already defined in %s (line %d); this definition is ignored", prev.File, prev.Line)))
			} else {
				first[e.Key] = e
			}
			out = append(out, v)
		}
	}
	return out
}

// expand replaces each directory by the config files directly inside it.
func expand(paths []string) []string {
	var out []string
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			if snap, err := source.LoadDir(p); err == nil {
				for _, f := range snap.Files {
					out = append(out, f.Path)
				}
				continue
			}
		}
		out = append(out, p)
	}
	return out
}
