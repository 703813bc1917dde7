// Command disq-check-aof checks and repairs a disq append-only file.
//
//	disq-check-aof FILE [--fix]
//
// It prints the valid batches, the records by type and, for a damaged file,
// the first bad offset, the reason and the bytes after it; --fix truncates
// the file to its last good batch. See disq/engine/aof.
package main

import (
	"io"
	"os"

	"disq/engine/aof"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return aof.CheckCommand("disq-check-aof", args, stdout, stderr)
}
