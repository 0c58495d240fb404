package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A source folder is watched with inotify directly: fsnotify (v1.9, v1.10)
// does not export IN_CLOSE_WRITE, and a file rewritten in place (truncated,
// then written) must be read once its writer has closed it, not in
// between.

// change is what happened to a path below the watched folder.
type change int

const (
	// changed: a file was removed, renamed, had its mode changed, or
	// was written and closed; a link was created; a folder appeared or
	// went.
	changed change = iota
	// writing: a file is being written in place; it changes (closed)
	// later.
	writing
)

// watchEvent is one change.
type watchEvent struct {
	path string
	what change
}

// watcher reports the changes below a folder and its subfolders, and the
// folder itself being removed and created again (its parent is watched
// for that).
type watcher struct {
	root   string
	fd     int // for adding watches (f.Fd would make f blocking)
	f      *os.File
	events chan watchEvent
	errs   chan error

	mu     sync.Mutex
	wds    map[int]string // watch descriptor -> folder
	parent int            // the root's parent folder's watch
}

const (
	dirMask    = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	parentMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_ONLYDIR
)

// newWatcher watches root (which may not exist yet: it is watched from
// its parent until it does).
func newWatcher(root string) (*watcher, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &watcher{
		root:   root,
		fd:     fd,
		f:      os.NewFile(uintptr(fd), "inotify"), // non-blocking: read through the runtime's poller, so Close ends the read
		events: make(chan watchEvent, 256),
		errs:   make(chan error, 16),
		wds:    map[int]string{},
		parent: -1,
	}
	pwd, err := unix.InotifyAddWatch(fd, filepath.Dir(root), parentMask)
	if err != nil {
		w.f.Close()
		return nil, fmt.Errorf("watch %s: %w", filepath.Dir(root), err)
	}
	w.parent = pwd
	w.addTree(root)
	go w.read()
	return w, nil
}

// Close stops the watcher; Events is closed once its reader has ended.
func (w *watcher) Close() error { return w.f.Close() }

// addTree watches a folder and every folder below it.
func (w *watcher) addTree(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		wd, err := unix.InotifyAddWatch(w.fd, p, dirMask)
		if err != nil {
			w.error(fmt.Errorf("watch %s: %w", p, err))
			return nil
		}
		w.mu.Lock()
		w.wds[wd] = p
		w.mu.Unlock()
		return nil
	})
}

func (w *watcher) error(err error) {
	select {
	case w.errs <- err:
	default:
	}
}

func (w *watcher) read() {
	defer close(w.events)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.error(fmt.Errorf("inotify: %w", err))
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
			w.handle(int(ev.Wd), ev.Mask, string(name))
		}
	}
}

func (w *watcher) handle(wd int, mask uint32, name string) {
	if mask&unix.IN_Q_OVERFLOW != 0 {
		// Events were lost: read everything again.
		w.events <- watchEvent{path: w.root, what: changed}
		return
	}
	w.mu.Lock()
	dir, known := w.wds[wd]
	if mask&unix.IN_IGNORED != 0 {
		delete(w.wds, wd)
	}
	w.mu.Unlock()
	if wd == w.parent {
		// The root appearing again (created, or renamed into place).
		if name == filepath.Base(w.root) {
			if fi, err := os.Stat(w.root); err == nil && fi.IsDir() {
				w.addTree(w.root)
				w.events <- watchEvent{path: w.root, what: changed}
			}
		}
		return
	}
	if !known {
		return
	}
	path := dir
	if name != "" {
		path = filepath.Join(dir, name)
	}
	switch {
	case mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0:
		w.events <- watchEvent{path: dir, what: changed}
	case mask&unix.IN_ISDIR != 0 && mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
		w.addTree(path)
		w.events <- watchEvent{path: path, what: changed}
	case mask&unix.IN_MODIFY != 0:
		w.events <- watchEvent{path: path, what: writing}
	case mask&unix.IN_CREATE != 0 && createdForWriting(path):
		// A file created in place is read once its writer closes it
		// (IN_CLOSE_WRITE), not empty or half-written in between; a file
		// renamed into place (IN_MOVED_TO) is whole at once.
		w.events <- watchEvent{path: path, what: writing}
	case mask&(unix.IN_CLOSE_WRITE|unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO|unix.IN_ATTRIB) != 0:
		w.events <- watchEvent{path: path, what: changed}
	}
}

// createdForWriting reports whether a path just created is a regular file
// (its writer closes it when done), not a link or a special file.
func createdForWriting(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular()
}
