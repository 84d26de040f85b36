package gateway

import (
	"sync"

	"switchyard/splitter"
)

const contentTypeJSON = "application/json"

// buf is a pooled byte buffer for building answers (VictoriaMetrics
// bytesutil.ByteBuffer): Get, append, hand to fasthttp (which copies), Put.
type buf struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &buf{b: make([]byte, 0, 512)} }}

// maxPooledBuf is the largest answer buffer a pool keeps.
const maxPooledBuf = 1 << 20

func getBuf() *buf { return bufPool.Get().(*buf) }

func putBuf(b *buf) {
	if cap(b.b) > maxPooledBuf { // do not keep a huge batch answer around
		return
	}
	b.b = b.b[:0]
	bufPool.Put(b)
}

// appendJSONString appends s as a JSON string, as encoding/json writes it
// (invalid UTF-8 becomes U+FFFD, so the output is always valid JSON).
func appendJSONString(dst []byte, s string) []byte { return splitter.AppendJSONString(dst, s) }
