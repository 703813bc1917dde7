package aof

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

const checkUsage = `Usage: %[1]s FILE [--fix]

Checks a disq append-only file: the header, every batch's checksum and every
record. Prints the valid batches, the records by type and, for a damaged
file, the offset of the first bad batch, the reason and how many bytes follow
it.

  --fix    truncate a damaged file to its last good batch (without asking).
           Corrupt bytes (as opposed to a torn, half-written tail) are first
           copied to FILE.corrupt-<time>.
  --help   show this help

Exit status: 0 the file is valid (or was repaired by --fix), 1 the file is
damaged, 2 usage error, unreadable file, or not a disq append-only file.
`

// CheckCommand runs disq-check-aof with args (without the program name) and
// returns the exit status. disq-server check-aof can call it too.
func CheckCommand(prog string, args []string, stdout, stderr io.Writer) int {
	var file string
	fix := false
	for _, a := range args {
		switch a {
		case "--fix", "-fix":
			fix = true
		case "--help", "-help", "-h":
			fmt.Fprintf(stdout, checkUsage, prog)
			return 0
		default:
			if strings.HasPrefix(a, "-") && a != "-" || file != "" {
				fmt.Fprintf(stderr, "%s: unexpected argument %q\n", prog, a)
				fmt.Fprintf(stderr, checkUsage, prog)
				return 2
			}
			file = a
		}
	}
	if file == "" {
		fmt.Fprintf(stderr, checkUsage, prog)
		return 2
	}
	check := Check
	if fix {
		check = Fix
	}
	rep, err := check(file)
	if rep == nil || err != nil && rep.Bad == nil && rep.ValidSize == 0 {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}
	fmt.Fprintf(stdout, "file:           %s\n", file)
	fmt.Fprintf(stdout, "size:           %d bytes (format version %d)\n", rep.Size, Version)
	fmt.Fprintf(stdout, "valid batches:  %d (%d S2-compressed)\n", rep.Batches, rep.CompressedBatches)
	fmt.Fprintf(stdout, "records:        %d%s\n", rep.Records, byType(rep.ByType))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}
	if rep.ZeroTail > 0 {
		fmt.Fprintf(stdout, "preallocated:   %d zero bytes after the last batch (space reserved before a crash; the server cuts it off)\n", rep.ZeroTail)
	}
	if rep.Bad == nil {
		fmt.Fprintf(stdout, "status:         OK\n")
		return 0
	}
	b := rep.Bad
	kind := "TRUNCATED (the file ends inside a batch: an interrupted write)"
	if b.Corrupt {
		kind = "CORRUPT"
	}
	if b.MidFile {
		kind = "CORRUPT (inside the file: data follows the damage; the server refuses it even with aof-load-truncated yes)"
	}
	fmt.Fprintf(stdout, "status:         %s\n", kind)
	fmt.Fprintf(stdout, "first bad:      offset %d: %s\n", b.Offset, b.Reason)
	fmt.Fprintf(stdout, "valid prefix:   %d bytes; %d bytes after it cannot be loaded\n", b.Offset, b.Size-b.Offset)
	if !rep.Fixed {
		fmt.Fprintf(stdout, "run %s --fix %s to truncate the file to %d bytes\n", prog, file, b.Offset)
		return 1
	}
	if rep.SavedTo != "" {
		fmt.Fprintf(stdout, "saved:          the %d bytes cut off are in %s\n", b.Size-b.Offset, rep.SavedTo)
	}
	fmt.Fprintf(stdout, "fixed:          truncated from %d to %d bytes (%d bytes removed); the file is valid now\n", b.Size, b.Offset, b.Size-b.Offset)
	return 0
}

func byType(m map[RecordType]int64) string {
	if len(m) == 0 {
		return ""
	}
	ts := make([]int, 0, len(m))
	for t := range m {
		ts = append(ts, int(t))
	}
	sort.Ints(ts)
	var sb strings.Builder
	sb.WriteString(" (")
	for i, t := range ts {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s %d", RecordType(t), m[RecordType(t)])
	}
	sb.WriteString(")")
	return sb.String()
}
