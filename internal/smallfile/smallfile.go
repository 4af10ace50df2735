// Package smallfile reads the small files a Corefile names (tokens,
// secrets, the overrides file): regular files only, and only up to a size,
// so that a FIFO, a device or a huge file named by mistake is an error
// instead of a hang or a process that swells.
package smallfile

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// Read returns the contents of the regular file name, which must hold at
// most limit bytes. It never blocks on a FIFO (see Open).
func Read(name string, limit int64) ([]byte, error) {
	f, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, data, err := ReadOpened(f, limit)
	if err != nil {
		return nil, fmt.Errorf("%s %v", name, err)
	}
	return data, nil
}

// Open opens a file for reading without waiting: a FIFO with no writer
// would block an ordinary open, and whoever opens it with it.
func Open(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// ReadOpened reads f, opened by Open, and returns what it was when read:
// it is checked once open (it may have been replaced since anyone looked),
// and at most limit bytes are read, even if it grows meanwhile. Errors
// say what is wrong, for a caller to prefix with the file's name.
func ReadOpened(f *os.File, limit int64) (os.FileInfo, []byte, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if err := Check(info, limit); err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("grew past the %d bytes allowed while it was read", limit)
	}
	return info, data, err
}

// Check refuses what is not a regular file of at most limit bytes: a FIFO
// would block its reader, a device never ends, and a file larger than
// limit is refused from its size alone, never read.
func Check(info os.FileInfo, limit int64) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("is a %s, not a regular file", Kind(info.Mode()))
	}
	if info.Size() > limit {
		return fmt.Errorf("holds %d bytes, more than the %d allowed", info.Size(), limit)
	}
	return nil
}

// Kind names a kind of file that is not regular, for an error.
func Kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
