package tsm

import (
	"strconv"
	"sync"
)

// capBuffer keeps the first and the last half of what is written to it and
// counts what it drops in between. dsmc prints its banner and the interesting
// summary at the two ends, while a chatty run (one progress line per file)
// could otherwise grow without bound.
type capBuffer struct {
	mu      sync.Mutex
	half    int
	head    []byte
	tail    []byte // ring buffer of at most half bytes once full
	pos     int    // next write position in tail once it is full
	dropped int64
}

func newCapBuffer(limit int) *capBuffer {
	half := limit / 2
	if half < 1 {
		half = 1
	}
	return &capBuffer{half: half}
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := b.half - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if len(p) >= b.half {
		b.dropped += int64(len(b.tail)) + int64(len(p)-b.half)
		b.tail = append(b.tail[:0], p[len(p)-b.half:]...)
		b.pos = 0
		return n, nil
	}
	for len(p) > 0 {
		if len(b.tail) < b.half {
			k := min(b.half-len(b.tail), len(p))
			b.tail = append(b.tail, p[:k]...)
			p = p[k:]
			continue
		}
		k := min(b.half-b.pos, len(p))
		b.dropped += int64(k)
		copy(b.tail[b.pos:], p[:k])
		b.pos = (b.pos + k) % b.half
		p = p[k:]
	}
	return n, nil
}

// String returns head, a marker line when bytes were dropped, and tail.
func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]byte, 0, len(b.head)+len(b.tail)+64)
	out = append(out, b.head...)
	if b.dropped > 0 {
		out = append(out, "\n[... "+strconv.FormatInt(b.dropped, 10)+" bytes omitted ...]\n"...)
	}
	out = append(out, b.tail[b.pos:]...)
	out = append(out, b.tail[:b.pos]...)
	return string(out)
}

func (b *capBuffer) droppedBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}
