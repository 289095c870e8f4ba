package server

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// lazyPair is a connection accepted through LazyDeadlines and the client's end of it.
func lazyPair(t *testing.T) (server net.Conn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lazy := LazyDeadlines(ln)
	t.Cleanup(func() { _ = lazy.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := lazy.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return server, client
}

// A read deadline moved later is the one that counts: the earlier one, still set on the
// socket, passes without the read failing, and data arriving after it is read.
func TestLazyDeadlineAReadOutlivesTheEarlierDeadlineItWasExtendedFrom(t *testing.T) {
	server, client := lazyPair(t)
	_ = server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_ = server.SetReadDeadline(time.Now().Add(time.Minute))
	go func() {
		time.Sleep(80 * time.Millisecond) // well past the first deadline
		_, _ = client.Write([]byte("x"))
	}()
	buf := make([]byte, 1)
	if n, err := server.Read(buf); n != 1 || err != nil {
		t.Fatalf("read = %d, %v; want the byte sent after the first deadline", n, err)
	}
	// Cleared, the deadline no longer applies at all.
	_ = server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_ = server.SetReadDeadline(time.Time{})
	go func() {
		time.Sleep(80 * time.Millisecond)
		_, _ = client.Write([]byte("y"))
	}()
	if n, err := server.Read(buf); n != 1 || err != nil || buf[0] != 'y' {
		t.Fatalf("read with the deadline cleared = %d, %v", n, err)
	}
}

// A read times out when its own deadline passes, not before, even after the socket's earlier
// timer fired on the way.
func TestLazyDeadlineAReadTimesOutAtItsDeadlineNotBefore(t *testing.T) {
	server, _ := lazyPair(t)
	start := time.Now()
	_ = server.SetReadDeadline(start.Add(20 * time.Millisecond))
	deadline := start.Add(120 * time.Millisecond)
	_ = server.SetReadDeadline(deadline)
	_, err := server.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read error %v, want a timeout", err)
	}
	if now := time.Now(); now.Before(deadline) {
		t.Fatalf("timed out %v before the deadline", deadline.Sub(now))
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v is not a net.Error timeout", err)
	}
}

// An earlier deadline is set at once: a deadline in the past interrupts a blocked read (net/http
// stops its background read so), and the connection reads again once the deadline is cleared.
func TestLazyDeadlineAPastDeadlineInterruptsABlockedRead(t *testing.T) {
	server, client := lazyPair(t)
	_ = server.SetReadDeadline(time.Now().Add(time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the read block
	_ = server.SetReadDeadline(time.Unix(1, 0))
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("interrupted read: %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline in the past did not interrupt the blocked read")
	}
	_ = server.SetReadDeadline(time.Time{})
	_, _ = client.Write([]byte("z"))
	buf := make([]byte, 1)
	if n, err := server.Read(buf); n != 1 || err != nil || buf[0] != 'z' {
		t.Fatalf("read after clearing the deadline = %d, %v", n, err)
	}
}

// Writes keep their deadline's meaning too: one moved later lets writes go on after the first
// has passed; one that has passed fails them.
func TestLazyDeadlineWritesFollowTheLatestDeadline(t *testing.T) {
	server, client := lazyPair(t)
	go func() { _, _ = io.Copy(io.Discard, client) }()
	_ = server.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	_ = server.SetWriteDeadline(time.Now().Add(time.Minute))
	time.Sleep(60 * time.Millisecond)
	if _, err := server.Write([]byte("after the first deadline")); err != nil {
		t.Fatalf("write after the first deadline passed: %v", err)
	}
	_ = server.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := server.Write([]byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past its deadline: %v, want a timeout", err)
	}
}

// Under net/http with the service's timeouts the listener keeps a keep-alive connection
// serving across its earlier deadlines, and still closes one idle past IdleTimeout.
func TestLazyDeadlineServerKeepsKeepAliveAndIdleTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }),
		ReadHeaderTimeout: 50 * time.Millisecond,
		ReadTimeout:       100 * time.Millisecond,
		WriteTimeout:      100 * time.Millisecond,
		IdleTimeout:       300 * time.Millisecond,
	}
	go func() { _ = srv.Serve(LazyDeadlines(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	var answered time.Time
	for i := 0; i < 3; i++ {
		if i > 0 {
			// Past the header, read and write timeouts set for the request before, within
			// the idle one.
			time.Sleep(150 * time.Millisecond)
		}
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		n, err := conn.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
			t.Fatalf("request %d: %q, %v", i, buf[:n], err)
		}
		answered = time.Now()
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(buf); err != io.EOF {
		t.Fatalf("idle connection: read %q, %v; want it closed by the server", buf[:n], err)
	}
	// The server starts the idle timeout just before the answer arrives here.
	if idle := time.Since(answered); idle < 250*time.Millisecond {
		t.Fatalf("closed after %v idle, before IdleTimeout", idle)
	}
}
