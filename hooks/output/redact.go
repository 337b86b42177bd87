package output

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Redacted replaces every secret value in output.
const Redacted = "[REDACTED]"

// minSecretLen is the shortest value treated as a secret: replacing "1" or
// "true" everywhere would garble the output without protecting anything.
const minSecretLen = 6

// secretSuffixes mark environment variables whose values are secrets
// whatever file they came from.
var secretSuffixes = []string{"_KEY", "_PASSWORD", "_SECRET", "_TOKEN", "_KEY_ID", "_ACCESS_KEY"}

// IsSecretName reports whether an environment variable's name says it holds
// a secret (*_KEY, *_PASSWORD, *_SECRET, *_TOKEN).
func IsSecretName(name string) bool {
	n := strings.ToUpper(name)
	for _, s := range secretSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// Secrets is a set of values never to print.
type Secrets struct {
	mu     sync.RWMutex
	values []string // longest first, so a secret containing another is replaced whole
}

// Add adds values (short ones are ignored, see minSecretLen).
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < minSecretLen {
			continue
		}
		dup := false
		for _, x := range s.values {
			if x == v {
				dup = true
				break
			}
		}
		if !dup {
			s.values = append(s.values, v)
		}
	}
	sort.Slice(s.values, func(i, j int) bool { return len(s.values[i]) > len(s.values[j]) })
}

// Len is the number of values held.
func (s *Secrets) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.values)
}

// Redact returns text with every secret value replaced.
func (s *Secrets) Redact(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.values {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, Redacted)
		}
	}
	return text
}

// FromEnvironment collects secrets from the environment (KEY=VALUE pairs):
// every variable whose name IsSecretName, every variable named in one of the
// app's .kamal/secrets* files (Kamal exports those to pre-deploy and
// post-deploy), plus literal values written in those files, and the extra
// names given (e.g. the manifest's litestream.secrets).
func FromEnvironment(environ []string, appDir string, extraNames ...string) *Secrets {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	s := &Secrets{}
	for k, v := range env {
		if IsSecretName(k) {
			s.Add(v)
		}
	}
	for _, n := range extraNames {
		s.Add(env[n])
	}
	names, literals := ReadSecretsFiles(appDir)
	for _, n := range names {
		s.Add(env[n])
	}
	s.Add(literals...)
	return s
}

// ReadSecretsFiles reads .kamal/secrets, .kamal/secrets-common and
// .kamal/secrets.<destination> under appDir: the names they define, and the
// values written literally (not $VAR or $(command), which the shell expands
// and Kamal exports, so they are found by name in the environment).
func ReadSecretsFiles(appDir string) (names, literals []string) {
	files, _ := filepath.Glob(filepath.Join(appDir, ".kamal", "secrets*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			line = strings.TrimPrefix(line, "export ")
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			names = append(names, strings.TrimSpace(k))
			v = strings.TrimSpace(v)
			if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
				v = v[1 : len(v)-1]
			}
			if v != "" && !strings.Contains(v, "$") {
				literals = append(literals, v)
			}
		}
	}
	return names, literals
}

// Redactor is a writer that holds output until a newline and writes it with
// every secret replaced, so a secret split across two writes is still
// caught. Flush writes a last unterminated line.
type Redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets *Secrets
	buf     []byte
}

// NewRedactor wraps w.
func NewRedactor(w io.Writer, s *Secrets) *Redactor {
	return &Redactor{w: w, secrets: s}
}

// Write implements io.Writer.
func (r *Redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	i := bytes.LastIndexByte(r.buf, '\n')
	if i < 0 {
		// Keep a very long unterminated line from growing without bound.
		if len(r.buf) < 1<<20 {
			return len(p), nil
		}
		i = len(r.buf) - 1
	}
	out := r.secrets.Redact(string(r.buf[:i+1]))
	r.buf = append(r.buf[:0], r.buf[i+1:]...)
	if _, err := io.WriteString(r.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what is held.
func (r *Redactor) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buf) == 0 {
		return nil
	}
	out := r.secrets.Redact(string(r.buf))
	r.buf = r.buf[:0]
	_, err := io.WriteString(r.w, out)
	return err
}
