//go:build unix

package msgindex

import (
	"fmt"
	"syscall"
	"unsafe"
)

// newChunk maps an anonymous, private chunk of records outside the Go heap. Pages are backed by
// memory only once written, and come zeroed.
func newChunk() []rec {
	b, err := syscall.Mmap(-1, 0, chunkLen*int(recSize), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		// Out of address space or memory: there is nothing an index can do about it.
		panic(fmt.Sprintf("msgindex: mapping %d bytes: %v", chunkLen*int(recSize), err))
	}
	return unsafe.Slice((*rec)(unsafe.Pointer(&b[0])), chunkLen)
}

// freeChunk unmaps a chunk from newChunk.
func freeChunk(c []rec) {
	_ = syscall.Munmap(unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), chunkLen*int(recSize)))
}
