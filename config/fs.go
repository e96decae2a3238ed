package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// hostConfigID is keepalived's default configuration id: the host name up
// to its first dot.
func hostConfigID() string {
	name, err := os.Hostname()
	if err != nil {
		return ""
	}
	id, _, _ := strings.Cut(name, ".")
	return id
}

// maxFileSize is the largest configuration file that is read.
const maxFileSize = 16 << 20

// fileSystem is where included files are found. Tests and the fuzz target
// use an in-memory one so that they never read the real file system.
type fileSystem interface {
	// ReadFile returns the contents of the regular file name.
	ReadFile(name string) ([]byte, error)
	// Glob returns the regular files matching pattern, sorted.
	Glob(pattern string) ([]string, error)
}

// osFS is the operating system's file system.
type osFS struct{}

var errNotRegular = errors.New("not a regular file")

func (osFS) ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// Devices, pipes and directories are refused so that a pattern such
	// as "/dev/*" cannot block or exhaust memory.
	if !fi.Mode().IsRegular() {
		return nil, &os.PathError{Op: "read", Path: name, Err: errNotRegular}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, &os.PathError{Op: "read", Path: name, Err: fmt.Errorf("file is larger than %d bytes", maxFileSize)}
	}
	return data, nil
}

func (osFS) Glob(pattern string) ([]string, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
			files = append(files, m)
		}
	}
	return files, nil
}
