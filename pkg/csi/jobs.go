package csi

import (
	"context"
	"sync"
)

// jobs runs the long TSM work (uploads, restores) in the background, one job per key, so that
// CSI calls return long before dsmc finishes and a sidecar's timeout never hides progress.
type jobs struct {
	mu     sync.Mutex
	base   context.Context
	stop   context.CancelFunc
	m      map[string]*job
	wg     sync.WaitGroup
	closed bool
}

type job struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newJobs() *jobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobs{base: ctx, stop: cancel, m: map[string]*job{}}
}

// start runs fn under key unless a job with that key is running; it reports whether it started.
func (j *jobs) start(key string, fn func(ctx context.Context)) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return false
	}
	if _, running := j.m[key]; running {
		return false
	}
	ctx, cancel := context.WithCancel(j.base)
	jb := &job{cancel: cancel, done: make(chan struct{})}
	j.m[key] = jb
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		defer close(jb.done)
		defer cancel()
		defer func() {
			j.mu.Lock()
			delete(j.m, key)
			j.mu.Unlock()
		}()
		fn(ctx)
	}()
	return true
}

func (j *jobs) get(key string) *job {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.m[key]
}

func (j *jobs) running(key string) bool { return j.get(key) != nil }

// wait blocks until the job under key ends or ctx is done; true if no job is running any more.
func (j *jobs) wait(ctx context.Context, key string) bool {
	jb := j.get(key)
	if jb == nil {
		return true
	}
	select {
	case <-jb.done:
		return true
	case <-ctx.Done():
		return false
	}
}

func (j *jobs) cancelAndWait(key string) {
	if jb := j.get(key); jb != nil {
		jb.cancel()
		<-jb.done
	}
}

// stopAll cancels every job and waits for all of them; no job starts afterwards.
func (j *jobs) stopAll() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.stop()
	j.wg.Wait()
}

// withSlot runs fn while holding one of the --max-concurrent-dsmc slots. Long transfers
// (uploads, restores) may take all slots but one, so that a query or a delete, which the
// sidecars wait for, never queues behind hours of uploads; with one slot everything shares it.
// While it waits, the call counts in tsmcsi_dsmc_slot_waiting.
func (d *Driver) withSlot(ctx context.Context, long bool, fn func() error) error {
	class := slotShort
	if long {
		class = slotTransfer
	}
	waiting := d.metrics.slotWaiting.WithLabelValues(class)
	waiting.Inc()
	queued := true
	stopWaiting := func() {
		if queued {
			queued = false
			waiting.Dec()
		}
	}
	defer stopWaiting()
	if long {
		select {
		case d.longSlots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-d.longSlots }()
	}
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.slots }()
	stopWaiting()
	return fn()
}
