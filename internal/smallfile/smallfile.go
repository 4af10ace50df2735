// Package smallfile reads the small files a Corefile names (tokens,
// secrets): regular files only, and only up to a size, so that a FIFO, a
// device or a huge file named by mistake is an error at load instead of a
// hang or a process that swells.
package smallfile

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// Read returns the contents of the regular file name, which must hold at
// most limit bytes. It never blocks on a FIFO: the file is opened
// non-blocking and refused unless it is regular.
func Read(name string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", name, kind(info.Mode()))
	}
	if info.Size() > limit {
		return nil, fmt.Errorf("%s holds %d bytes, more than the %d allowed", name, info.Size(), limit)
	}
	// The file may grow between Stat and the read: never read past limit.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s holds more than the %d bytes allowed", name, limit)
	}
	return data, nil
}

// kind names a file mode's type for an error.
func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	default:
		return m.Type().String()
	}
}
