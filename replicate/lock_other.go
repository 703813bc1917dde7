//go:build !unix

package replicate

import "os"

// flock is a no-op where flock(2) does not exist: the config file is not
// protected against a second process there.
func flock(f *os.File) error { return nil }
