package aof

import (
	"errors"
	"os"
	"syscall"
)

// Preallocation. Appending to a file makes every fsync also commit the
// file's new size (a journal commit on ext4), which about doubles its
// latency on the disks measured (BENCHMARKS.md). The writer therefore
// extends the file ahead of its data in chunks (fallocate) and makes
// groups durable with fdatasync, which then has only data to flush. The
// space past the data reads as zeros: a clean Close cuts it off; after a
// crash the loader takes an all-zero tail for the clean end of the log it
// is, and Load cuts it off.

// DefaultPreallocate is the chunk the writer extends the file by.
const DefaultPreallocate = 8 << 20

var errNoPrealloc = errors.New("preallocation not supported")

// preallocate extends f to off+n bytes with allocated (zero) space.
func preallocate(f File, off, n int64) error {
	o, ok := f.(*os.File)
	if !ok {
		return errNoPrealloc
	}
	for {
		err := syscall.Fallocate(int(o.Fd()), 0, off, n)
		if err != syscall.EINTR {
			return err
		}
	}
}

// dataSync makes f's data durable: fdatasync for OS files, Sync otherwise.
func dataSync(f File) error {
	o, ok := f.(*os.File)
	if !ok {
		return f.Sync()
	}
	for {
		err := syscall.Fdatasync(int(o.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: o.Name(), Err: err}
			}
			return nil
		}
	}
}

// ensureAlloc makes room for the file to grow to end bytes.
func (w *Writer) ensureAlloc(end int64) {
	if w.prealloc <= 0 || end <= w.alloc {
		return
	}
	n := (end+w.prealloc-1)/w.prealloc*w.prealloc - w.alloc // whole chunks
	if err := preallocate(w.f, w.alloc, n); err != nil {
		w.prealloc = 0 // the file system cannot: plain appends
		if !errors.Is(err, errNoPrealloc) {
			w.log.Info("aof: preallocation unavailable, appending plainly", "err", err)
		}
		return
	}
	w.alloc += n
}

// truncate cuts the file to size (dropping any preallocated space).
func (w *Writer) truncate(size int64) error {
	err := w.f.Truncate(size)
	if err == nil {
		w.alloc = size
	}
	return err
}

// allZero reports whether [from, size) of f holds only zero bytes.
func allZero(f interface {
	ReadAt([]byte, int64) (int, error)
}, from, size int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for off := from; off < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		if n == 0 && err != nil {
			return false, err
		}
		off += int64(n)
	}
	return true, nil
}
