package smtpfront

import (
	"errors"
	"io"
	"sync/atomic"
	"time"
)

// bdatTracker works around a race in go-smtp's BDAT handling: Data runs on
// a goroutine of go-smtp's that, after Data returns, reads the connection's
// dataResult field. When a transaction is reset mid-BDAT (a chunk over the
// size limit, RSET, a refused Data), go-smtp does not wait for that
// goroutine, and the next transaction's BDAT overwrites the field: a data
// race, and the old result may land in the new transaction's channel. The
// goroutine's last step is closing the read side of the pipe it handed to
// Data; Mail waits for that before a new transaction starts.
type bdatTracker struct {
	pipe atomic.Pointer[io.PipeReader]
}

// started records the pipe of a BDAT transaction's Data.
func (b *bdatTracker) started(r io.Reader) {
	if pr, ok := r.(*io.PipeReader); ok {
		b.pipe.Store(pr)
	}
}

// wait returns once go-smtp's goroutine of the last BDAT transaction has
// ended, or after a few seconds in case go-smtp ever changes.
func (b *bdatTracker) wait() {
	pr := b.pipe.Swap(nil)
	if pr == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		// The write side is closed by now (MAIL is refused inside a
		// transaction), so Read returns at once: the writer's error while
		// the goroutine runs, io.ErrClosedPipe once it closed the reader.
		if _, err := pr.Read(nil); errors.Is(err, io.ErrClosedPipe) {
			return
		}
		time.Sleep(20 * time.Microsecond)
	}
}
