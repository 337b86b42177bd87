// Package backend is the stand-in for a Rails app container behind
// Traefik: Thruster on port 80 in front of Puma, with /up, a page, a
// server-sent-events stream and a websocket echo. It can stop gracefully
// (SIGTERM to Puma), drain like Thruster does while Puma finishes (answering
// 502 until the process exits) and come back on the same address, which is
// all a test needs of a container's life cycle.
package backend

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is one app container.
type Server struct {
	Name string
	Addr string // 127.0.0.1:port, stable across restarts

	draining atomic.Bool
	unwell   atomic.Bool
	Hits     atomic.Int64

	mu  sync.Mutex
	srv *http.Server
}

// Start listens on addr ("" picks a free port).
func Start(name, addr string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s := &Server{Name: name}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr }

func (s *Server) listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("backend %s: %w", s.Name, err)
	}
	s.Addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return nil
}

// SetHealthy makes /up answer 200 (true) or 500 (false) while the server
// keeps serving pages, like an app whose dependencies failed.
func (s *Server) SetHealthy(ok bool) { s.unwell.Store(!ok) }

// Stop is SIGTERM to a server without a proxy in front: the listener closes
// at once (new connections are refused), in-flight requests finish.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// Restart stops the server, keeps it down for downtime, and listens again
// on the same address.
func (s *Server) Restart(downtime time.Duration) error {
	s.Stop()
	time.Sleep(downtime)
	return s.listen(s.Addr)
}

// Drain is what Kamal's `docker stop` does to a Rails container: Thruster
// keeps accepting and answers 502 while Puma drains, for d; then the
// process exits and connections are refused.
func (s *Server) Drain(d time.Duration) {
	s.draining.Store(true)
	time.Sleep(d)
	s.Stop()
	s.draining.Store(false)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		return
	}
	switch r.URL.Path {
	case "/up":
		if s.unwell.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!DOCTYPE html><html><body style="background-color: green"></body></html>`)
	case "/sse":
		s.serveSSE(w, r)
	case "/ws":
		s.serveWebsocket(w, r)
	case "/echo-headers":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "x-forwarded-for=%s\n", r.Header.Get("X-Forwarded-For"))
	default:
		s.Hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Backend", s.Name)
		fmt.Fprintf(w, "hello from %s %s\n", s.Name, r.URL.Path)
	}
}

// serveSSE sends ?n= events (default 5) ?every= apart (default 200ms),
// flushing each, so a test can see whether they arrive one by one.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	if n <= 0 {
		n = 5
	}
	every, err := time.ParseDuration(r.URL.Query().Get("every"))
	if err != nil {
		every = 200 * time.Millisecond
	}
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no flusher", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "id: %d\ndata: event %d sent %d\n\n", i, i, time.Now().UnixNano())
		f.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(every):
		}
	}
}

// serveWebsocket performs the RFC 6455 handshake and echoes each text frame
// back, enough to prove an Upgrade survives the middleware chain.
func (s *Server) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "want a websocket upgrade", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijacker", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", AcceptKey(key))
	rw.Flush()
	for {
		payload, err := ReadFrame(rw.Reader)
		if err != nil {
			return
		}
		if err := WriteFrame(rw.Writer, payload, false); err != nil {
			return
		}
		rw.Flush()
	}
}

// AcceptKey computes Sec-WebSocket-Accept for a client key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// ReadFrame reads one (possibly masked) text frame of up to 125 bytes.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := readFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[1] & 0x7f)
	if n > 125 {
		return nil, fmt.Errorf("frame too long for this stand-in")
	}
	var mask [4]byte
	masked := hdr[1]&0x80 != 0
	if masked {
		if _, err := readFull(r, mask[:]); err != nil {
			return nil, err
		}
	}
	payload := make([]byte, n)
	if _, err := readFull(r, payload); err != nil {
		return nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return payload, nil
}

// WriteFrame writes one text frame; clients must mask, servers must not.
func WriteFrame(w *bufio.Writer, payload []byte, mask bool) error {
	if len(payload) > 125 {
		return fmt.Errorf("frame too long for this stand-in")
	}
	b1 := byte(len(payload))
	var key [4]byte
	if mask {
		b1 |= 0x80
		key = [4]byte{1, 2, 3, 4}
	}
	if err := w.WriteByte(0x81); err != nil {
		return err
	}
	if err := w.WriteByte(b1); err != nil {
		return err
	}
	out := append([]byte(nil), payload...)
	if mask {
		w.Write(key[:])
		for i := range out {
			out[i] ^= key[i%4]
		}
	}
	_, err := w.Write(out)
	return err
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
