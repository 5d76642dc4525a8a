//go:build !unix

package msgindex

// newChunk allocates a chunk on the Go heap where anonymous mappings are not available. Records
// hold no pointers, so the collector still does not scan them.
func newChunk() []rec { return make([]rec, chunkLen) }

func freeChunk([]rec) {}
