package aof

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// LoadOptions configure Load.
type LoadOptions struct {
	// Truncate (aof-load-truncated yes) cuts a torn or corrupt tail off the
	// file, with a log line, and loads what precedes it. Without it such a
	// file makes Load fail with a *TornError.
	Truncate bool
	// Logger receives the truncation report; nil means slog.Default().
	Logger *slog.Logger
	// Progress, when set, is called with the bytes loaded so far and the
	// file size, about every MiB and at the end (INFO loading_* fields).
	Progress func(loaded, total int64)

	noSync bool // tests: skip the fsyncs of a repair (fuzzing speed)
}

// LoadStats describe a completed Load.
type LoadStats struct {
	Records        int64 // records passed to fn
	Skipped        int64 // records of skippable types this package does not know
	Batches        int64
	Bytes          int64 // size of the valid file (after any truncation)
	TruncatedBytes int64 // bytes cut off the end (Truncate)
	ZeroTail       int64 // preallocated zero bytes after the data, cut off (not damage)
	// SavedTo names the file that received the bytes cut off when they
	// were corrupt rather than torn ("" otherwise).
	SavedTo string
}

// TornError reports the first batch that cannot be loaded. Everything
// before Offset is valid.
type TornError struct {
	Path    string
	Offset  int64  // start of the bad batch: the valid prefix ends here
	Size    int64  // file size
	Reason  string // what is wrong
	Corrupt bool   // the bytes are wrong (vs. the file ends mid-batch)
	// MidFile: the bad batch is followed by more data (not zeros), so this
	// is damage inside the file, not a tail torn by a crash. Truncate
	// refuses it: cutting there would drop every later record.
	MidFile bool
}

func (e *TornError) Error() string {
	if e.MidFile {
		return fmt.Sprintf("aof: %s is corrupt at offset %d of %d bytes (%s), with %d bytes of data after the damage; aof-load-truncated only forgives a damaged tail: inspect it with disq-check-aof %s (--fix would drop everything after offset %d)",
			e.Path, e.Offset, e.Size, e.Reason, e.Size-e.Offset, e.Path, e.Offset)
	}
	kind := "truncated"
	if e.Corrupt {
		kind = "corrupt"
	}
	return fmt.Sprintf("aof: %s is %s at offset %d of %d bytes (%s); the last %d bytes cannot be loaded: use disq-check-aof --fix %s, or set aof-load-truncated yes",
		e.Path, kind, e.Offset, e.Size, e.Reason, e.Size-e.Offset, e.Path)
}

// Load replays the file at path: fn is called for every record in file
// order (Record slices alias a buffer reused after fn returns). A missing or
// empty file loads nothing. A file that is not disq's, or of a newer
// version, is refused (ErrNotAOF, ErrDisqueAOF, ErrVersion, ErrBadHeader).
// A torn or corrupt batch stops loading: with opts.Truncate the file is cut
// back to the end of the last good batch (the records of the bad batch were
// not passed to fn) and Load succeeds; otherwise a *TornError is returned.
// An error from fn aborts loading and is returned as is.
func Load(path string, opts LoadOptions, fn func(r Record) error) (LoadStats, error) {
	var st LoadStats
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return st, nil
		}
		return st, fmt.Errorf("aof: %w", err)
	}
	sc := scanner{path: path, f: f, fn: fn, progress: opts.Progress}
	torn, err := sc.runFile()
	f.Close()
	st.Records, st.Skipped, st.Batches, st.Bytes = sc.records, sc.skipped, sc.batches, sc.valid
	if err != nil {
		return st, err
	}
	if torn == nil {
		if sc.zeroTail > 0 {
			// Space the writer preallocated before a crash: the log ends
			// where the zeros start.
			if err := truncateFile(path, sc.valid, !opts.noSync); err != nil {
				return st, fmt.Errorf("aof: %s: cutting the preallocated tail: %w", path, err)
			}
			st.ZeroTail = sc.zeroTail
		}
		return st, nil
	}
	if !opts.Truncate || torn.MidFile {
		return st, torn
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if torn.Corrupt && torn.Size > torn.Offset {
		saved, err := saveTail(path, torn.Offset, torn.Size, !opts.noSync)
		if err != nil {
			return st, fmt.Errorf("aof: %s: saving the corrupt tail before truncating: %w", path, err)
		}
		st.SavedTo = saved
	}
	if err := truncateFile(path, torn.Offset, !opts.noSync); err != nil {
		return st, fmt.Errorf("aof: %s: truncating the damaged tail: %w", path, err)
	}
	st.TruncatedBytes = torn.Size - torn.Offset
	log.Warn("aof: damaged tail truncated (aof-load-truncated yes)",
		"file", path, "offset", torn.Offset, "size", torn.Size, "reason", torn.Reason,
		"corrupt", torn.Corrupt, "bytes_dropped", st.TruncatedBytes, "saved_to", st.SavedTo,
		"records_loaded", st.Records)
	return st, nil
}

// saveTail copies [off, size) of path to a side file so that truncating a
// corrupt region never destroys the bytes.
func saveTail(path string, off, size int64, sync bool) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	name := path + ".corrupt-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	dst, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, off, size-off))
	if err == nil && sync {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

func truncateFile(path string, size int64, sync bool) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// CheckReport is what Check finds in a file.
type CheckReport struct {
	Path              string
	Size              int64
	Batches           int64
	CompressedBatches int64
	Records           int64
	ByType            map[RecordType]int64
	ValidSize         int64      // end of the last good batch
	ZeroTail          int64      // preallocated zeros after it (not damage)
	Bad               *TornError // nil when the whole file is valid
	Fixed             bool       // Fix truncated the file to ValidSize
	SavedTo           string     // Fix saved the corrupt bytes it cut here
}

// Check reads and validates the whole file without loading it anywhere.
// The error is for files that are not disq's or cannot be read; damage is
// reported in CheckReport.Bad.
func Check(path string) (*CheckReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("aof: %w", err)
	}
	defer f.Close()
	rep := &CheckReport{Path: path, ByType: make(map[RecordType]int64)}
	sc := scanner{path: path, f: f, byType: rep.ByType}
	torn, err := sc.runFile()
	rep.Size, rep.Batches, rep.CompressedBatches, rep.Records, rep.ValidSize = sc.size, sc.batches, sc.zbatches, sc.records+sc.skipped, sc.valid
	rep.ZeroTail = sc.zeroTail
	rep.Bad = torn
	if err != nil {
		return rep, err
	}
	return rep, nil
}

// Fix checks the file and, when it is damaged, truncates it to its valid
// prefix; corrupt bytes (not a torn tail) are first copied to a side file
// (SavedTo). The report describes the file before the repair.
func Fix(path string) (*CheckReport, error) {
	rep, err := Check(path)
	if err != nil || rep.Bad == nil {
		return rep, err
	}
	if rep.Bad.Corrupt {
		saved, err := saveTail(path, rep.ValidSize, rep.Size, true)
		if err != nil {
			return rep, fmt.Errorf("aof: %s: saving the corrupt tail: %w", path, err)
		}
		rep.SavedTo = saved
	}
	if err := truncateFile(path, rep.ValidSize, true); err != nil {
		return rep, fmt.Errorf("aof: %s: truncating: %w", path, err)
	}
	rep.Fixed = true
	return rep, nil
}

// scanner walks a file batch by batch.
type scanner struct {
	path     string
	f        io.ReaderAt
	zeroTail int64 // zeros after the last batch (preallocated)
	fn       func(Record) error
	byType   map[RecordType]int64
	progress func(loaded, total int64)

	size     int64
	valid    int64 // end of the last good batch
	batches  int64
	zbatches int64
	records  int64
	skipped  int64
}

func (s *scanner) torn(off int64, corrupt bool, reason string) *TornError {
	return &TornError{Path: s.path, Offset: off, Size: s.size, Reason: reason, Corrupt: corrupt}
}

// midFile marks t as damage inside the file when anything but zeros follows
// the bad batch (whose end is from; a crash may leave a zero-filled tail).
func (s *scanner) midFile(t *TornError, from int64) (*TornError, error) {
	z, err := allZero(s.f, from, s.size)
	if err != nil {
		return nil, fmt.Errorf("aof: %s: %w", s.path, err)
	}
	t.MidFile = !z
	return t, nil
}

// zeroEnd reports whether the file holds only zeros from off on: the space
// the writer preallocated, past the log's end.
func (s *scanner) zeroEnd(off int64) (bool, error) {
	z, err := allZero(s.f, off, s.size)
	if err != nil {
		return false, fmt.Errorf("aof: %s: %w", s.path, err)
	}
	if z {
		s.zeroTail = s.size - off
	}
	return z, nil
}

func (s *scanner) runFile() (*TornError, error) {
	fi, err := s.f.(*os.File).Stat()
	if err != nil {
		return nil, fmt.Errorf("aof: %w", err)
	}
	s.size = fi.Size()
	return s.run()
}

// run scans s.size bytes of s.f. It returns a *TornError for damage, an
// error for foreign or unreadable files or an fn failure.
func (s *scanner) run() (*TornError, error) {
	if s.size == 0 {
		return nil, nil
	}
	var hdr [BatchHeaderSize]byte
	n := int(min(s.size, HeaderSize))
	if _, err := s.f.ReadAt(hdr[:n], 0); err != nil {
		return nil, fmt.Errorf("aof: %s: %w", s.path, err)
	}
	torn, err := checkFileHeader(s.path, hdr[:n])
	if err != nil {
		return nil, err
	}
	if torn {
		return s.torn(0, false, "file ends inside the file header"), nil
	}
	s.valid = HeaderSize
	off := int64(HeaderSize)
	br := bufio.NewReaderSize(io.NewSectionReader(s.f, off, s.size-off), int(min(max(s.size-off, 4096), 1<<20)))
	var buf, scratch []byte
	lastReport := int64(0)
	for off < s.size {
		if s.size-off < BatchHeaderSize {
			if z, err := s.zeroEnd(off); z || err != nil {
				return nil, err
			}
			return s.torn(off, false, "file ends inside a batch header"), nil
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("aof: %s: %w", s.path, err)
		}
		if hdr == ([BatchHeaderSize]byte{}) {
			if z, err := s.zeroEnd(off); z || err != nil {
				return nil, err
			}
		}
		h, bad := parseBatchHeader(hdr[:])
		if bad != "" {
			return s.midFile(s.torn(off, true, bad), off+BatchHeaderSize)
		}
		end := off + BatchHeaderSize + int64(h.n)
		if end > s.size {
			return s.torn(off, false, fmt.Sprintf("file ends inside a batch: %d payload bytes announced, %d present", h.n, s.size-off-BatchHeaderSize)), nil
		}
		if cap(buf) < int(h.n) {
			buf = make([]byte, h.n)
		}
		buf = buf[:h.n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("aof: %s: %w", s.path, err)
		}
		var p []byte
		p, scratch, bad = decodePayload(h, buf, scratch)
		if bad != "" {
			return s.midFile(s.torn(off, true, bad), end)
		}
		if bad := s.validate(p, h.count); bad != "" {
			return s.midFile(s.torn(off, true, bad), end)
		}
		if err := s.apply(p); err != nil {
			return nil, err
		}
		s.batches++
		if h.flags&BatchS2 != 0 {
			s.zbatches++
		}
		off = end
		s.valid = off
		if s.progress != nil && off-lastReport >= 1<<20 {
			s.progress(off, s.size)
			lastReport = off
		}
	}
	if s.progress != nil {
		s.progress(off, s.size)
	}
	return nil, nil
}

// validate decodes every record of a batch payload without applying any, so
// a bad batch is rejected whole.
func (s *scanner) validate(p []byte, count uint32) string {
	var n uint32
	for off := 0; off < len(p); {
		_, k, err := DecodeRecord(p[off:])
		if err != nil {
			return fmt.Sprintf("record %d at payload offset %d: %v", n, off, err)
		}
		off += k
		n++
	}
	if n != count {
		return fmt.Sprintf("batch announces %d records, holds %d", count, n)
	}
	return ""
}

func (s *scanner) apply(p []byte) error {
	for len(p) > 0 {
		r, k, _ := DecodeRecord(p)
		p = p[k:]
		if s.byType != nil {
			s.byType[r.Type]++
		}
		if r.Type != RecLoadJob && r.Type != RecDelJob {
			s.skipped++
			continue
		}
		s.records++
		if s.fn != nil {
			if err := s.fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// cutZeroTail returns where the log in f (size bytes, header checked) ends,
// cutting off a zero tail left by preallocation before a crash (Open
// without a Load first). A file whose last byte is not zero is left as is.
func cutZeroTail(f File, path string, size int64) (int64, error) {
	var last [1]byte
	if size <= HeaderSize {
		return size, nil
	}
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, fmt.Errorf("aof: %s: %w", path, err)
	}
	if last[0] != 0 {
		return size, nil
	}
	sc := scanner{path: path, f: f, size: size}
	torn, err := sc.run()
	if err != nil || torn != nil || sc.zeroTail == 0 {
		return size, err // damage is the loader's business: append as before
	}
	if err := f.Truncate(sc.valid); err != nil {
		return 0, fmt.Errorf("aof: %s: cutting the preallocated tail: %w", path, err)
	}
	return sc.valid, nil
}
