package pebble

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// listenerCerts is Pebble's own HTTPS identity: a throwaway CA and a
// certificate for 127.0.0.1 it signed. (Pebble's module ships a fixed
// pair for localhost; a pair made per run keeps the test independent of
// files inside the module cache, and lets each CA of a test be trusted on
// its own.)
type listenerCerts struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
}

func newListenerCerts(dir, name string) (*listenerCerts, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth e2e: HTTPS of Pebble " + name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	lc := &listenerCerts{
		caFile:   filepath.Join(dir, "listener-ca.pem"),
		certFile: filepath.Join(dir, "listener-cert.pem"),
		keyFile:  filepath.Join(dir, "listener-key.pem"),
		pool:     x509.NewCertPool(),
	}
	lc.pool.AddCert(caCert)
	for _, f := range []struct {
		path, kind string
		der        []byte
		mode       os.FileMode
	}{
		{lc.caFile, "CERTIFICATE", caDER, 0o644},
		{lc.certFile, "CERTIFICATE", der, 0o644},
		{lc.keyFile, "EC PRIVATE KEY", keyDER, 0o600},
	} {
		data := pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der})
		if err := os.WriteFile(f.path, data, f.mode); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return lc, nil
}
