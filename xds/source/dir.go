package source

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the directory must stay quiet before it is read again.
const DefaultDebounce = 100 * time.Millisecond

// Dir is a Source that reads a directory (see LoadDir) and watches it for changes.
type Dir struct {
	// Path is the directory.
	Path string
	// Debounce delays a reload until no event arrived for this long; 0 means DefaultDebounce.
	Debounce time.Duration
	// Logger receives file notes and watch errors; nil discards them.
	Logger *slog.Logger
}

var _ Source = (*Dir)(nil)

// NewDir returns a Dir source for path with the default debounce.
func NewDir(path string, logger *slog.Logger) *Dir {
	return &Dir{Path: path, Logger: logger}
}

// Run emits the directory's content at once and after every change (creations, writes,
// renames and removals of files in it; a burst of events yields one snapshot). A snapshot equal
// to the previous one (same files, same bytes) is not emitted again.
func (d *Dir) Run(ctx context.Context, emit func(Snapshot)) error {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", d.Path, err)
	}
	defer w.Close()
	if err := w.Add(d.Path); err != nil {
		return fmt.Errorf("watching %s: %w", d.Path, err)
	}
	cache := dirCache{}
	snap, err := cache.load(d.Path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", d.Path, err)
	}
	logNotes(log, snap)
	emit(snap)
	last := snap

	debounce := d.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	changes := make(chan struct{}, 1)
	go func() {
		defer close(changes)
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if IsConfigFile(ev.Name) {
					Notify(changes)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("watching extensions directory", "dir", d.Path, "error", err)
				Notify(changes) // events may have been lost: read again
			}
		}
	}()
	Debounce(ctx, debounce, changes, func() {
		snap, err := cache.load(d.Path)
		if err != nil {
			log.Error("reading extensions directory", "dir", d.Path, "error", err)
			return
		}
		if snap.equal(last) {
			return
		}
		logNotes(log, snap)
		emit(snap)
		last = snap
	})
	return nil
}

// Notify signals changes without blocking (a pending signal already covers this one).
func Notify(changes chan<- struct{}) {
	select {
	case changes <- struct{}{}:
	default:
	}
}

// Debounce calls fire once changes have been quiet for d, until ctx ends or changes closes.
func Debounce(ctx context.Context, d time.Duration, changes <-chan struct{}, fire func()) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
			timer.Reset(d)
		case <-timer.C:
			fire()
		}
	}
}

func logNotes(log *slog.Logger, s Snapshot) {
	for _, f := range s.Files {
		for _, n := range f.Notes {
			log.Info(n)
		}
	}
}
