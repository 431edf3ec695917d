package pop3

import (
	"bytes"
	"io"
	"net"
	"strings"
	"time"
)

// memConn is an in-memory net.Conn: reads come from a fixed input, writes
// are collected. Used to drive a session synchronously in fuzzing.
type memConn struct {
	in     io.Reader
	out    bytes.Buffer
	writes int
}

func newMemConn(input string) *memConn { return &memConn{in: strings.NewReader(input)} }

func (c *memConn) Read(p []byte) (int, error) { return c.in.Read(p) }
func (c *memConn) Write(p []byte) (int, error) {
	c.writes++
	return c.out.Write(p)
}
func (c *memConn) Close() error                       { return nil }
func (c *memConn) LocalAddr() net.Addr                { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return memAddr{} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }
