package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// The tenants-file is JSON:
//
//	{"format": "disq-tenants", "version": 1, "tenants": [Definition, ...]}
//
// sorted by name, tombstones included (Deleted). It is rewritten whole on
// every change: a temporary file in the same directory, fsync, rename over
// the old one, fsync of the directory; mode 0600 (it holds password
// hashes). A change whose file cannot be written is refused and changes
// nothing. New refuses to start on a file it cannot read or parse.
const (
	fileFormat  = "disq-tenants"
	fileVersion = 1
)

type fileDoc struct {
	Format  string        `json:"format"`
	Version int           `json:"version"`
	Tenants []*Definition `json:"tenants"`
}

func loadFile(path string) ([]*Definition, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tenants-file: %w", err)
	}
	var doc fileDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("tenants-file %s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("tenants-file %s: data after the document", path)
	}
	if doc.Format != fileFormat {
		return nil, fmt.Errorf("tenants-file %s: not a disq tenants file (format %q)", path, doc.Format)
	}
	if doc.Version != fileVersion {
		return nil, fmt.Errorf("tenants-file %s: version %d not supported (this disq reads version %d)", path, doc.Version, fileVersion)
	}
	seen := map[string]bool{}
	for _, d := range doc.Tenants {
		if d == nil || !ValidName(d.Name) {
			return nil, fmt.Errorf("tenants-file %s: %w", path, ErrInvalidName)
		}
		if seen[d.Name] {
			return nil, fmt.Errorf("tenants-file %s: tenant %q defined twice", path, d.Name)
		}
		seen[d.Name] = true
		if d.Deleted && d.Name == DefaultName {
			return nil, fmt.Errorf("tenants-file %s: the default tenant cannot be deleted", path)
		}
		if d.Deleted && (d.PasswordHash != "" || d.Limits != (Limits{})) {
			return nil, fmt.Errorf("tenants-file %s: tombstone %q carries a definition", path, d.Name)
		}
	}
	return doc.Tenants, nil
}

func saveFile(path string, defs map[string]*Definition) error {
	doc := fileDoc{Format: fileFormat, Version: fileVersion}
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		doc.Tenants = append(doc.Tenants, defs[name])
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return writeAtomic(path, data, 0o600)
}

// writeAtomic replaces path with data: temp file, fsync, rename, fsync dir.
func writeAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
