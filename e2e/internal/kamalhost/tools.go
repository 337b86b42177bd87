package kamalhost

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recdockerPkg is the recording docker's main package, built once per test
// binary.
const recdockerPkg = "github.com/wombatworkouts/berth/e2e/internal/kamalhost/cmd/recdocker"

//go:embed rubyshim/semaphore_block.rb
var semaphoreShim []byte

var (
	toolsOnce sync.Once
	toolsDir  string
	toolsErr  error
)

// tools builds the recording docker and writes the Ruby shim into a
// directory shared by the whole test binary; Main removes it at the end.
func tools() (string, error) {
	toolsOnce.Do(func() {
		toolsDir, toolsErr = os.MkdirTemp("", "kamalhost-tools-")
		if toolsErr != nil {
			return
		}
		if toolsErr = os.WriteFile(filepath.Join(toolsDir, "semaphore_block.rb"), semaphoreShim, 0o644); toolsErr != nil {
			return
		}
		if toolsErr = writeKamalWrapper(toolsDir); toolsErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(toolsDir, "docker"), recdockerPkg)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			toolsErr = fmt.Errorf("build the recording docker (%s): %v\n%s", recdockerPkg, err, out.String())
		}
	})
	return toolsDir, toolsErr
}

// writeKamalWrapper puts a `kamal` in toolsDir/kamalbin that runs the Kamal
// this harness found, so hooks that call `kamal` (nested calls) reach the
// same Kamal as the test.
func writeKamalWrapper(dir string) error {
	argv, err := Kamal()
	if err != nil {
		return err
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		if strings.ContainsAny(a, "'\n") {
			return fmt.Errorf("kamal command word %q: quotes and newlines are not supported", a)
		}
		quoted[i] = "'" + a + "'"
	}
	bin := filepath.Join(dir, "kamalbin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	script := "#!/bin/sh\n# kamalhost: the Kamal the tests run, for hooks that call kamal\nexec " + strings.Join(quoted, " ") + " \"$@\"\n"
	return os.WriteFile(filepath.Join(bin, "kamal"), []byte(script), 0o755)
}

// kamalBinDir holds the `kamal` wrapper that goes first on kamal's PATH.
func kamalBinDir() (string, error) {
	dir, err := tools()
	return filepath.Join(dir, "kamalbin"), err
}

// recdockerBinary is the built recording docker.
func recdockerBinary() (string, error) {
	dir, err := tools()
	return filepath.Join(dir, "docker"), err
}

// rubyShimOpt is the RUBYOPT that loads the semaphore shim.
func rubyShimOpt() (string, error) {
	dir, err := tools()
	return "-r" + filepath.Join(dir, "semaphore_block.rb"), err
}

// Main runs a package's tests and then removes the harness's build
// directory. Call it from TestMain: `func TestMain(m *testing.M) {
// kamalhost.Main(m) }`. Without it the directory (a few MB) stays in
// $TMPDIR.
func Main(m *testing.M) {
	code := m.Run()
	if toolsDir != "" {
		os.RemoveAll(toolsDir)
	}
	os.Exit(code)
}
