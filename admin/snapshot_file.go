package admin

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"switchyard/admin/pace"
)

// snapshotAsyncMin is the table size (bytes of JSON) from which the
// snapshot file is written after the change is in force rather than
// before the change returns: writing and syncing tens of MB would take a
// large push past its budget, and the store already holds the durable
// copy. A crash within that write leaves the previous snapshot.
var snapshotAsyncMin = newSizeKnob(1 << 20)

// writeChunk is how much of the snapshot file one write call writes.
const writeChunk = 128 << 10

// snapshotWriter writes the snapshot file, in the background for large
// states; only the newest pending state is written, and a small state
// waits behind a write in progress so that files land in order.
type snapshotWriter struct {
	mu      sync.Mutex
	pending *State
	busy    bool
	idle    sync.WaitGroup // done when no background write runs
}

// saveSnapshot writes st to the snapshot file: at once when it is small
// and no background write runs, else in the background.
func (m *Manager) saveSnapshot(st State) {
	if m.cfg.SnapshotPath == "" {
		return
	}
	w := &m.snapFile
	w.mu.Lock()
	if !w.busy && len(st.Table) < snapshotAsyncMin.get() {
		w.mu.Unlock()
		m.logSnapshotError(m.writeSnapshot(st))
		return
	}
	w.pending = &st
	if !w.busy {
		w.busy = true
		w.idle.Add(1)
		if pace.InJob() {
			pace.Go(m.snapshotLoop) // at idle priority, like the change
		} else {
			go m.snapshotLoop()
		}
	}
	w.mu.Unlock()
}

func (m *Manager) snapshotLoop() {
	w := &m.snapFile
	defer w.idle.Done()
	for {
		w.mu.Lock()
		st := w.pending
		w.pending = nil
		if st == nil {
			w.busy = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		m.logSnapshotError(m.writeSnapshot(*st))
	}
}

// wait returns when no background write runs.
func (w *snapshotWriter) wait() { w.idle.Wait() }

func (m *Manager) logSnapshotError(err error) {
	if err != nil {
		m.log.Error("cannot write the local snapshot", "path", m.cfg.SnapshotPath, "err", err)
	}
}

// writeFileAtomic replaces path with the concatenated parts so that a
// reader (or a crash) sees either the old file or the new one whole: it
// writes a temporary file in the same directory, syncs it and renames it
// over path.
//
// The parts are written writeChunk at a time, each chunk sent on to the
// disk at once (syncRange), calling yield (when not nil) after each: the
// kernel's work of writing tens of MB runs on the gateway's core, and
// would otherwise hold request handling as long (a MiB took 3 to 6 ms of
// it on our 2-core VM; 128 KiB takes under one).
func writeFileAtomic(path string, yield func(), parts ...[]byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create the snapshot directory: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot create a temporary snapshot file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	var off int64
	for _, data := range parts {
		for len(data) > 0 {
			n := min(len(data), writeChunk)
			if _, err := f.Write(data[:n]); err != nil {
				f.Close()
				return fmt.Errorf("cannot write the snapshot: %w", err)
			}
			if err := syncRange(f, off, int64(n)); err != nil {
				f.Close()
				return fmt.Errorf("cannot sync the snapshot: %w", err)
			}
			off += int64(n)
			data = data[n:]
			if yield != nil {
				yield()
			}
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot sync the snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot close the snapshot: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot put the snapshot in place: %w", err)
	}
	return nil
}
