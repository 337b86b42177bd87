package rehearsal

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/cachedtool"
	"github.com/wombatworkouts/berth/e2e/internal/pebble"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// binaries are the programs the rehearsal runs.
type binaries struct {
	traefik, litestream, standin, berth string
}

func buildBinaries(ws string, logf func(string, ...any)) (*binaries, error) {
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		return nil, err
	}
	b := &binaries{standin: filepath.Join(ws, "bin", "standin-rails"), berth: filepath.Join(ws, "bin", "berth")}
	if b.traefik, err = traefikrun.Binary(); err != nil {
		return nil, err
	}
	if b.litestream, err = cachedtool.Build("build-litestream.sh"); err != nil {
		return nil, err
	}
	for _, p := range []struct{ dir, pkg, out string }{
		{filepath.Join(root, "e2e"), "./cmd/standin-rails", b.standin},
		{root, "./hooks/cmd/berth", b.berth},
	} {
		logf("building %s", p.pkg)
		cmd := exec.Command("go", "build", "-o", p.out, p.pkg)
		cmd.Dir = p.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", p.pkg, err, out)
		}
	}
	return b, nil
}

// waitCertificates waits until Traefik at addr serves every domain a
// certificate that ca issued, and writes ca's root to dir/ca.pem for the
// smoke checks (BERTH_SMOKE_CA).
func waitCertificates(ca *pebble.CA, addr string, domains []string, dir string) (string, error) {
	roots, rootPEM, err := ca.Roots()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, rootPEM, 0o600); err != nil {
		return "", err
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, d := range domains {
		for {
			err := servedFrom(addr, d, roots)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return "", fmt.Errorf("no certificate for %s from the ACME CA (Pebble) within 60 s: %v", d, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return caFile, nil
}

// servedFrom checks that addr serves name a certificate verifying against
// roots.
func servedFrom(addr, name string, roots *x509.CertPool) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return err
	}
	return conn.Close()
}

// portOf is the port of a host:port address.
func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
}
