package ipc

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxSnapshot bounds the settings snapshot a service will read.
const maxSnapshot = 64 << 20

// SealedMemfd returns a read-only, sealed memfd holding data. Settings snapshots
// travel this way: a pipe would block past 64 KiB (certificates included).
func SealedMemfd(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("ipc: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("ipc: memfd write: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("ipc: memfd seal: %w", err)
	}
	return f, nil
}

// ReadSnapshot reads a whole settings snapshot from f (from offset 0).
func ReadSnapshot(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ipc: settings snapshot: %w", err)
	}
	if st.Size() > maxSnapshot {
		return nil, fmt.Errorf("ipc: settings snapshot of %d bytes exceeds %d", st.Size(), maxSnapshot)
	}
	buf := make([]byte, st.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("ipc: settings snapshot: %w", err)
	}
	return buf, nil
}
