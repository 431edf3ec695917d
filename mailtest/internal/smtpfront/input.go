package smtpfront

import (
	"errors"
	"io"
	"runtime"
	"sync"
	"time"
)

// bdatTracker lets Mail wait for go-smtp's goroutine of the last BDAT
// transaction.
//
// workaround(go-smtp v0.25.1): Data runs on a goroutine of go-smtp's that,
// after Data returns, reads the connection's dataResult field. When a
// transaction is reset mid-BDAT (a chunk over the size limit, RSET, a
// refused Data), go-smtp does not wait for that goroutine, and the next
// transaction's BDAT overwrites the field: a data race, and the old result
// may land in the new transaction's channel. Remove when go-smtp waits for
// its BDAT goroutine on reset.
//
// The goroutine's steps after Data are two, neither of which blocks:
// sending the result into a buffered channel and closing the read side of
// the pipe it handed to Data. So Mail waits for the event that Data
// returned, then yields the processor until the pipe says its reader is
// closed, which is at most those two steps later.
type bdatTracker struct {
	mu   sync.Mutex
	pipe *io.PipeReader
	done chan struct{} // closed when Data of pipe returned
}

// started records the pipe of a BDAT transaction's Data.
func (b *bdatTracker) started(r io.Reader) {
	if pr, ok := r.(*io.PipeReader); ok {
		b.mu.Lock()
		b.pipe, b.done = pr, make(chan struct{})
		b.mu.Unlock()
	}
}

// returned records that Data of r returned.
func (b *bdatTracker) returned(r io.Reader) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if pr, ok := r.(*io.PipeReader); ok && pr == b.pipe {
		close(b.done)
	}
}

// wait returns once go-smtp's goroutine of the last BDAT transaction has
// ended, or after a few seconds in case go-smtp ever changes.
func (b *bdatTracker) wait() {
	b.mu.Lock()
	pr, done := b.pipe, b.done
	b.pipe, b.done = nil, nil
	b.mu.Unlock()
	if pr == nil {
		return
	}
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	select {
	case <-done:
	case <-timeout.C:
		return
	}
	// The write side is closed by now (MAIL is refused inside a
	// transaction), so Read returns at once: the writer's error until the
	// goroutine closed the reader, io.ErrClosedPipe after.
	for {
		if _, err := pr.Read(nil); errors.Is(err, io.ErrClosedPipe) {
			return
		}
		select {
		case <-timeout.C:
			return
		default:
			runtime.Gosched()
		}
	}
}
