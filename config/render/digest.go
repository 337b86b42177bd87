package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// deploy.yml ends with a digest of everything above it, so that a later
// render can tell berth's own output from a file someone edited by hand
// (whose edits it must not drop silently).
const digestPrefix = "# berth digest: sha256:"

const digestNote = " (berth config render compares it to notice hand edits)\n"

// sign appends the digest line.
func sign(data []byte) []byte {
	sum := sha256.Sum256(data)
	out := append([]byte(nil), data...)
	out = append(out, digestPrefix...)
	out = append(out, hex.EncodeToString(sum[:])...)
	return append(out, digestNote...)
}

// Untouched reports whether data is a deploy.yml berth wrote that nobody
// has changed since.
func Untouched(data []byte) bool {
	i := bytes.LastIndex(data, []byte(digestPrefix))
	if i < 0 || (i > 0 && data[i-1] != '\n') {
		return false
	}
	sum := sha256.Sum256(data[:i])
	return bytes.Equal(data[i:], []byte(digestPrefix+hex.EncodeToString(sum[:])+digestNote))
}

// DeployState is what the deploy.yml already in the output directory is.
type DeployState int

const (
	// NoDeploy: there is none; nothing can be lost.
	NoDeploy DeployState = iota
	// Unedited: berth wrote it and nobody changed it since.
	Unedited
	// Edited: berth wrote it, and it was changed since (or written by a
	// berth from before digests).
	Edited
	// HandWritten: berth did not write it (rails new, or a person).
	HandWritten
)

// ReadDeploy reads the deploy.yml in dir and says what it is.
func ReadDeploy(dir string) (DeployState, []byte, error) {
	p := filepath.Join(dir, DeployPath)
	data, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return NoDeploy, nil, nil
	case err != nil:
		return NoDeploy, nil, fmt.Errorf("reading %s: %w", p, err)
	case !IsGenerated(data):
		return HandWritten, data, nil
	case Untouched(data):
		return Unedited, data, nil
	}
	return Edited, data, nil
}
