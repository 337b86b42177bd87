package traefik_test

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/backend"
)

// In live mode berth hands Traefik's own ResponseWriter to the next handler,
// so server-sent events arrive one by one as they are sent, not buffered to
// the end of the stream.
func TestSSEDeliveredAsSent(t *testing.T) {
	app := startBackend(t, "sse")
	apply(t, shared, "sse.yml", dynamicFile(
		[]route{{name: "sse", middlewares: []string{"sse-berth"}, servers: []string{app.URL()}}},
		map[string]string{"sse-berth": berthMiddleware("app: sse")},
	), "sse")
	waitStatus(t, "/sse-ready", 200, 5*time.Second)

	req, _ := http.NewRequest(http.MethodGet, shared.WebURL+"/sse?n=5&every=300ms", nil)
	req.Header.Set("Accept", "text/event-stream")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var lags []time.Duration
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		f := strings.Fields(line)
		sent, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err != nil {
			t.Fatalf("bad event %q", line)
		}
		lags = append(lags, time.Since(time.Unix(0, sent)))
	}
	if len(lags) != 5 {
		t.Fatalf("got %d events, want 5", len(lags))
	}
	t.Logf("stream took %s; per-event delivery lag %v", time.Since(start).Round(time.Millisecond), lags)
	for i, lag := range lags {
		if lag > 150*time.Millisecond {
			t.Errorf("event %d arrived %s after it was sent: the stream is buffered", i, lag)
		}
	}
}

// A websocket upgrade passes through berth in live mode and echoes.
func TestWebsocketThroughBerth(t *testing.T) {
	app := startBackend(t, "ws")
	apply(t, shared, "ws.yml", dynamicFile(
		[]route{{name: "ws", middlewares: []string{"ws-berth"}, servers: []string{app.URL()}}},
		map[string]string{"ws-berth": berthMiddleware("app: ws")},
	), "ws")
	waitStatus(t, "/ws-ready", 200, 5*time.Second)

	conn, err := net.DialTimeout("tcp", shared.WebAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	_, err = conn.Write([]byte("GET /ws HTTP/1.1\r\nHost: " + shared.WebAddr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	rw := bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn))
	resp, err := http.ReadResponse(rw.Reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != backend.AcceptKey(key) {
		t.Fatalf("upgrade answered %d %v", resp.StatusCode, resp.Header)
	}
	for _, msg := range []string{"hello", "wombat"} {
		if err := backend.WriteFrame(rw.Writer, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		rw.Flush()
		got, err := backend.ReadFrame(rw.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Errorf("echo %q, want %q", got, msg)
		}
	}
}
