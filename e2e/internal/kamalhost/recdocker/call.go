package recdocker

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Call is one invocation of the fake, one JSON line in LogFile.
type Call struct {
	// Seq orders the calls as they began.
	Seq   int       `json:"seq"`
	Start time.Time `json:"start"`
	// Argv is the words after `docker`. The value of `docker login -p` is
	// replaced by "[REDACTED]".
	Argv []string `json:"argv"`
	Cwd  string   `json:"cwd"`
	// EnvFiles holds, for `docker run` and `docker exec`, each --env-file as
	// it read at call time (in argv order).
	EnvFiles []EnvFile `json:"env_files,omitempty"`
	// Stdin is what an interactive call read, when Config.RecordStdin.
	Stdin *string `json:"stdin,omitempty"`
	// Rule is the index of the rule that answered, -1 for none.
	Rule   int    `json:"rule"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	Exit   int    `json:"exit"`
}

// EnvFile is one --env-file as the fake read it.
type EnvFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	// Error is set when the file could not be read (docker run then fails).
	Error string `json:"error,omitempty"`
}

// Vars parses the file's KEY=VALUE lines (docker's env-file format: no
// quoting, # comments, a bare KEY takes the caller's value and is skipped).
func (f EnvFile) Vars() map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(f.Content, "\n") {
		line = strings.TrimLeft(line, " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// Sub is the docker subcommand: "run", "ps", "container ls", "image rm",
// "-v" ... (the management word and its verb for `docker container|image|
// network X`).
func (c Call) Sub() string {
	if len(c.Argv) == 0 {
		return ""
	}
	switch c.Argv[0] {
	case "container", "image", "network", "volume", "system", "buildx", "context":
		if len(c.Argv) > 1 {
			return c.Argv[0] + " " + c.Argv[1]
		}
	}
	return c.Argv[0]
}

// Has reports whether argv contains words in this order (see Rule.Args).
func (c Call) Has(words ...string) bool { return Rule{Args: words}.Matches(c.Argv) }

// Line is argv joined by spaces, for messages.
func (c Call) Line() string { return "docker " + strings.Join(c.Argv, " ") }

func appendCall(dir string, c Call) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadCalls reads dir's log in the order the calls finished; a missing log
// is no call.
func ReadCalls(dir string) ([]Call, error) {
	f, err := os.Open(filepath.Join(dir, LogFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read recdocker log: %w", err)
	}
	defer f.Close()
	var calls []Call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", f.Name(), n, err)
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read recdocker log: %w", err)
	}
	return calls, nil
}
