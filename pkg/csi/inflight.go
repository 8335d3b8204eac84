package csi

import "sync"

// inFlight rejects a second operation on a key while the first one runs; the CSI spec lets a
// plugin answer such a call with ABORTED, and the sidecars retry it with backoff. Different keys
// never wait on each other.
type inFlight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func newInFlight() *inFlight { return &inFlight{keys: map[string]struct{}{}} }

// acquire reserves all keys or none; the returned release frees them.
func (f *inFlight) acquire(keys ...string) (release func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		if _, busy := f.keys[k]; busy {
			return nil, false
		}
	}
	for _, k := range keys {
		f.keys[k] = struct{}{}
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, k := range keys {
			delete(f.keys, k)
		}
	}, true
}
