package mailtest_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/mailrig/mailrig/mailtest"
)

// levelRecorder keeps the records of level Warn and above logged to it.
type levelRecorder struct {
	mu      sync.Mutex
	records []string
}

func (r *levelRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (r *levelRecorder) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, line)
	r.mu.Unlock()
	return nil
}

func (r *levelRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrHandler{r: r, attrs: attrs}
}

func (r *levelRecorder) WithGroup(string) slog.Handler { return r }

// attrHandler is levelRecorder with attributes added by With.
type attrHandler struct {
	r     *levelRecorder
	attrs []slog.Attr
}

func (h *attrHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.r.Enabled(ctx, l) }

func (h *attrHandler) Handle(ctx context.Context, rec slog.Record) error {
	rec.AddAttrs(h.attrs...)
	return h.r.Handle(ctx, rec)
}

func (h *attrHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrHandler{r: h.r, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *attrHandler) WithGroup(string) slog.Handler { return h }

// TestQuickCloseLogsNothing: a server closed right after it started, while
// its listeners' Serve calls may not have begun, logs no warning or error
// (it used to log "serve failed … server closed" once per listener).
func TestQuickCloseLogsNothing(t *testing.T) {
	t.Parallel()
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			rec := &levelRecorder{}
			srv := mailtest.NewServer(t, mailtest.WithLogger(slog.New(rec)))
			if err := srv.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// Close has waited for every Serve call, so all is logged.
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, r := range rec.records {
				t.Errorf("logged: %s", r)
			}
		})
	}
}
