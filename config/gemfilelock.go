package config

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// kamalLocked matches Kamal's line among a Gemfile.lock's specs:
// "    kamal (2.12.0)".
var kamalLocked = regexp.MustCompile(`^    kamal \((\d+)\.(\d+)\.(\d+)[^)]*\)$`)

// LockedKamal reads the Kamal version an app pins in its Gemfile.lock (the
// app root is the manifest directory's parent: config/berth.yml), so the
// rendered deploy.yml uses only keys that Kamal accepts. It returns ok
// false when there is no lock file or no kamal in it.
func LockedKamal(manifestDir string) (major, minor int, ok bool) {
	f, err := os.Open(filepath.Join(filepath.Dir(manifestDir), "Gemfile.lock"))
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := kamalLocked.FindStringSubmatch(strings.TrimRight(sc.Text(), "\r"))
		if m == nil {
			continue
		}
		major, _ = strconv.Atoi(m[1])
		minor, _ = strconv.Atoi(m[2])
		return major, minor, true
	}
	return 0, 0, false
}
