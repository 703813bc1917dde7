package aof

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Preallocation. Appending to a file makes every fsync also commit the
// file's new size (a journal commit on ext4). Space reserved with
// fallocate does not help: its extents stay "unwritten" until data lands
// in them, and that conversion is a journal commit too (measured on this
// machine's ext4, 16 KiB per fdatasync, p50: appending 413 us, into
// fallocated space 567 us, over zeros written and synced beforehand
// 264 us). The writer therefore keeps real zeros ahead of its data: a
// filler goroutine writes the next chunk of zeros, flushes it in small
// pieces (so a group's fdatasync never finds many dirty zero pages) and
// fdatasyncs it, while the writer goes on writing below it. The writer
// never writes into a chunk being filled: if it gets there first it waits
// for the fill (Stats.PreallocWaits; AppendNow queues for the writer
// goroutine instead of waiting). The space past the data reads as zeros:
// a clean Close cuts it off; after a crash the loader takes an all-zero
// tail for the clean end of the log it is, and Load cuts it off.
//
// Only under appendfsync always: with everysec or no, one fsync a second
// (or none) gains nothing from the zeros, and writing them doubled the
// log's disk writes and cost about 6% of the server's CPU (the filler's
// writes and flushes, in a profile of an everysec ADDJOB load). A switch
// to always at run time starts the fills with the next write; a switch
// away lets the data run past the zeros already there, then append.

// DefaultPreallocate is the chunk the writer extends the file by.
const DefaultPreallocate = 8 << 20

// fillPiece is how much of a chunk the filler writes and flushes at a time.
const fillPiece = 256 << 10

type fillJob struct {
	f        *os.File
	from, to int64
}

type fillResult struct {
	fillJob
	err error
}

// filler writes the zero chunks the writer asks for, one at a time.
func (w *Writer) filler() {
	zero := make([]byte, fillPiece)
	for j := range w.fillReq {
		w.fillDone <- fillResult{j, zeroFill(j.f, j.from, j.to, zero)}
	}
}

// zeroFill writes zeros over [from, to) of f and makes them durable.
func zeroFill(f *os.File, from, to int64, zero []byte) error {
	for off := from; off < to; {
		n := min(int64(len(zero)), to-off)
		if _, err := f.WriteAt(zero[:n], off); err != nil {
			return err
		}
		if err := syncRange(f, off, n); err != nil {
			return err
		}
		off += n
	}
	return dataSync(f)
}

// syncRange writes out [off, off+n) of f and waits for it.
func syncRange(f *os.File, off, n int64) error {
	for {
		err := unix.SyncFileRange(int(f.Fd()), off, n,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		if err != unix.EINTR {
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

// ensureAlloc makes room for the file to grow to end bytes: below a
// finished fill the write lands on zeros; a fill in the way is waited for;
// with none, the write extends the file itself. It then starts the next
// fill when less than half a chunk of zeros is left ahead.
func (w *Writer) ensureAlloc(end int64) {
	if w.prealloc <= 0 {
		return
	}
	if w.filling {
		select {
		case r := <-w.fillDone:
			w.fillFinished(r)
		default:
			if end > w.fillFrom {
				w.st.fillWaits.Add(1)
				w.fillFinished(<-w.fillDone)
			}
		}
	}
	if end > w.alloc {
		w.alloc = end // a plain append
	}
	o, ok := w.f.(*os.File)
	if !ok {
		w.prealloc = 0 // not an OS file (tests): plain appends
		return
	}
	if w.filling || w.prealloc <= 0 || w.alloc-end >= w.prealloc/2 {
		return
	}
	if Fsync(w.policy.Load()) != FsyncAlways {
		return // the fsyncs zeros make cheaper are always's (see above)
	}
	// With no zeros ahead (a new or cut file) the fill starts an eighth of
	// a chunk past the data, so the writes made meanwhile append plainly
	// instead of waiting for it.
	from := max(w.alloc, end+w.prealloc/8)
	to := (from/w.prealloc + 1) * w.prealloc
	if to-end < w.prealloc/2 {
		to += w.prealloc
	}
	w.filling, w.fillFrom = true, from
	w.fillReq <- fillJob{f: o, from: from, to: to}
}

// fillFinished takes a fill's result. The file is as long as the fill
// went even when it failed (Close cuts it back).
func (w *Writer) fillFinished(r fillResult) {
	w.filling = false
	if r.f != w.f {
		return
	}
	w.alloc = max(w.alloc, r.to)
	if r.err != nil {
		w.prealloc = 0 // the file system cannot: plain appends
		w.log.Info("aof: preallocation unavailable, appending plainly", "err", r.err)
	}
}

// waitFill waits for a fill in flight (before the file is cut, switched or
// closed).
func (w *Writer) waitFill() {
	if w.filling {
		w.fillFinished(<-w.fillDone)
	}
}

// truncate cuts the file to size (dropping any preallocated space).
func (w *Writer) truncate(size int64) error {
	w.waitFill()
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
