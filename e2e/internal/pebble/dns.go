package pebble

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// DNS is a running pebble-challtestsrv serving only DNS: A records for the
// names a test adds (AddA) and no answer at all for any other name, so a
// name the test leaves out "does not resolve", as a domain does before its
// DNS record exists. No AAAA answers: Pebble would try an IPv6 address
// first, and the test Traefik listens on 127.0.0.1 only.
type DNS struct {
	// Addr is the DNS server's address (UDP and TCP), Pebble's -dnsserver.
	Addr string

	mgmt   string
	client *http.Client
	proc   *process
}

// StartDNS runs pebble-challtestsrv in dir with its challenge servers off
// (Traefik answers the challenges) and no default addresses.
func StartDNS(dir string) (*DNS, error) {
	bins, err := Binaries()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// UDP and TCP on the same port: Pebble asks over TCP. A TCP port
	// that is free here is almost always free for UDP too; a clash fails
	// the start, and the next attempt takes another port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dnsPort, err := traefikrun.FreePort()
		if err != nil {
			return nil, err
		}
		mgmtPort, err := traefikrun.FreePort()
		if err != nil {
			return nil, err
		}
		d := &DNS{
			Addr:   "127.0.0.1:" + strconv.Itoa(dnsPort),
			mgmt:   "http://127.0.0.1:" + strconv.Itoa(mgmtPort),
			client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}},
		}
		args := []string{
			"-dnsserver", d.Addr,
			"-management", "127.0.0.1:" + strconv.Itoa(mgmtPort),
			"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
			"-defaultIPv4", "", "-defaultIPv6", "",
		}
		d.proc, err = startProcess(filepath.Join(bins, "pebble-challtestsrv"), args, nil, filepath.Join(dir, "challtestsrv.log"))
		if err != nil {
			return nil, err
		}
		if lastErr = d.waitReady(10 * time.Second); lastErr == nil {
			return d, nil
		}
		lastErr = fmt.Errorf("pebble-challtestsrv: %w\n%s", lastErr, d.proc.tail(20))
		d.Stop()
	}
	return nil, lastErr
}

func (d *DNS) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if d.proc.exited() {
			return fmt.Errorf("exited during start")
		}
		// The management interface answers once everything listens;
		// the DNS port is checked too, over TCP as Pebble uses it.
		resp, err := d.client.Get(d.mgmt + "/")
		if err == nil {
			resp.Body.Close()
			if c, err := net.DialTimeout("tcp", d.Addr, time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("did not answer within %s", limit)
}

// AddA makes host resolve to addrs (A records).
func (d *DNS) AddA(host string, addrs ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := postJSON(ctx, d.client, d.mgmt+"/add-a", map[string]any{"host": host, "addresses": addrs}); err != nil {
		return fmt.Errorf("pebble-challtestsrv: %w", err)
	}
	return nil
}

// ClearA makes host resolve to nothing again.
func (d *DNS) ClearA(host string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := postJSON(ctx, d.client, d.mgmt+"/clear-a", map[string]any{"host": host}); err != nil {
		return fmt.Errorf("pebble-challtestsrv: %w", err)
	}
	return nil
}

// Log is everything the server has logged.
func (d *DNS) Log() string { return d.proc.text() }

// Stop ends the server and waits for it.
func (d *DNS) Stop() { d.proc.stop() }
