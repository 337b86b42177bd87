package plugin

import (
	"net/http"
	"strings"
	"time"
)

// During a rollout with Kamal's `proxy: false`, the old container is sent
// SIGTERM while Traefik still routes to it: Thruster answers 502 until Puma
// has drained, then the connection is refused until Traefik drops the
// server. forward sends idempotent requests that meet such an answer through
// next again (the load balancer picks again) until the deadline, so a
// draining container never reaches the client. This is the only place the
// ResponseWriter is wrapped, and never for streams.

const (
	firstRetryBackoff = 20 * time.Millisecond
	maxRetryBackoff   = 200 * time.Millisecond
)

func (b *Berth) forward(w http.ResponseWriter, r *http.Request, deadline time.Time) {
	if !retryable(r) {
		b.next.ServeHTTP(w, r)
		return
	}
	backoff := firstRetryBackoff
	for {
		if time.Until(deadline) < backoff {
			// Last attempt: whatever the app says now goes to the client, so
			// an app's own 503 is delayed, never replaced.
			b.next.ServeHTTP(w, r)
			return
		}
		rw := &retryWriter{w: w, header: http.Header{}}
		b.next.ServeHTTP(rw, r)
		if !rw.failed {
			return
		}
		timer := time.NewTimer(backoff)
		select {
		case <-r.Context().Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff *= 2
		if backoff > maxRetryBackoff {
			backoff = maxRetryBackoff
		}

		snap := b.c.current()
		switch snap.effective() {
		case ModeMaintenance:
			b.servePage(w, r, snap, time.Now())
			return
		case ModeUnavailable, ModePaused:
			var ok bool
			if snap, ok = b.hold(r, deadline); !ok {
				if r.Context().Err() == nil {
					b.servePage(w, r, snap, time.Now())
				}
				return
			}
		}
	}
}

// retryable is true for requests that can be sent twice without harm and
// whose answer is not a stream: GET, HEAD and OPTIONS without a body, no
// protocol upgrade, no server-sent events, no gRPC.
func retryable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return false
	}
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return false
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		return false
	}
	return true
}

// retryWriter holds back the status line until it is known: a 502, 503 or
// 504 (what Traefik answers for a draining, refused or missing server) is
// swallowed with its body and marks the attempt failed; anything else is
// passed on to the client as it comes.
type retryWriter struct {
	w           http.ResponseWriter
	header      http.Header
	wroteHeader bool
	failed      bool
}

func (rw *retryWriter) Header() http.Header { return rw.header }

func (rw *retryWriter) WriteHeader(code int) {
	if rw.wroteHeader || code < 200 {
		return
	}
	rw.wroteHeader = true
	if code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout {
		rw.failed = true
		return
	}
	dst := rw.w.Header()
	for k, v := range rw.header {
		dst[k] = v
	}
	rw.w.WriteHeader(code)
}

func (rw *retryWriter) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.failed {
		return len(p), nil
	}
	return rw.w.Write(p)
}

func (rw *retryWriter) Flush() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if f, ok := rw.w.(http.Flusher); ok && !rw.failed {
		f.Flush()
	}
}
