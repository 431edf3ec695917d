package mailtest_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every
// server must have stopped everything it started by the time Close returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
