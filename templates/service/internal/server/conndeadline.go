package server

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// LazyDeadlines wraps ln so that its connections move the runtime's deadline timers only when
// a deadline comes earlier, keeping the meaning of net.Conn deadlines exactly.
//
// With the server's read-header, read, write and idle timeouts, net/http sets a connection's
// deadlines eight times per keep-alive request (the header's, the whole request's, the
// background read's clear, abort and clear again, the idle one; the write deadline and its
// clear), most of them timers moved in the runtime's heap. Most of those move a deadline later
// or clear it, and on a healthy connection none of them fires. Here a later (or cleared)
// deadline is only remembered, and the timer set stays, earlier than asked. When it fires, the
// read or write that saw the timeout sets the timer to the deadline asked for and tries again;
// a caller sees a timeout exactly when its own deadline passes, never earlier. An earlier
// deadline, including one in the past (net/http's way to interrupt a blocked read), is set on
// the socket at once.
//
// Connections accepted here are not *net.TCPConn; they keep CloseWrite and ReadFrom (sendfile)
// for net/http.
func LazyDeadlines(ln net.Listener) net.Listener { return lazyListener{ln} }

type lazyListener struct{ net.Listener }

func (l lazyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lazyDeadlineConn{Conn: c}, nil
}

// lazyDeadlineConn is a connection whose deadlines are set on the socket only when earlier
// than the one there (see LazyDeadlines).
type lazyDeadlineConn struct {
	net.Conn
	read, write lazyDeadline
}

// lazyDeadline is one direction's deadline: the one asked for and the one set on the socket.
// Zero means none. armed is never later than want: the socket's timer fires at or before the
// deadline asked for.
type lazyDeadline struct {
	mu    sync.Mutex
	want  time.Time
	armed time.Time
}

// set records t as the deadline and sets it on the socket (with apply) when it is earlier
// than the one there.
func (d *lazyDeadline) set(t time.Time, apply func(time.Time) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.want = t
	if t.IsZero() || (!d.armed.IsZero() && !t.Before(d.armed)) {
		return nil // later or none: the timer there fires first and is moved then
	}
	if err := apply(t); err != nil {
		return err
	}
	d.armed = t
	return nil
}

// premature reports whether a timeout err came from the socket's timer set earlier than the
// deadline asked for; if so it sets the timer to that deadline, and the operation is to be
// retried: should the deadline asked for have passed meanwhile, the retry times out at once,
// and then truly. No clock is read.
func (d *lazyDeadline) premature(err error, apply func(time.Time) error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.armed.Equal(d.want) || apply(d.want) != nil {
		return false // the deadline asked for is the one that fired
	}
	d.armed = d.want
	return true
}

func (c *lazyDeadlineConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if err == nil || !c.read.premature(err, c.Conn.SetReadDeadline) {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (c *lazyDeadlineConn) Write(p []byte) (int, error) {
	written := 0
	for {
		n, err := c.Conn.Write(p[written:])
		written += n
		if err == nil || !c.write.premature(err, c.Conn.SetWriteDeadline) {
			return written, err
		}
		if written == len(p) {
			return written, nil
		}
	}
}

func (c *lazyDeadlineConn) SetReadDeadline(t time.Time) error {
	return c.read.set(t, c.Conn.SetReadDeadline)
}

func (c *lazyDeadlineConn) SetWriteDeadline(t time.Time) error {
	return c.write.set(t, c.Conn.SetWriteDeadline)
}

func (c *lazyDeadlineConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// CloseWrite half-closes the connection when the socket can (net/http uses it to close a
// connection gracefully); otherwise it does nothing, as net/http does without it.
func (c *lazyDeadlineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps the socket's sendfile and splice paths (net/http uses them for files): the
// socket's write timer is set to the deadline asked for first, so it fires exactly then.
func (c *lazyDeadlineConn) ReadFrom(r io.Reader) (int64, error) {
	c.write.mu.Lock()
	if !c.write.want.Equal(c.write.armed) {
		if err := c.Conn.SetWriteDeadline(c.write.want); err != nil {
			c.write.mu.Unlock()
			return 0, err
		}
		c.write.armed = c.write.want
	}
	c.write.mu.Unlock()
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
