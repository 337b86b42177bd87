package kamal_test

import (
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/e2e/internal/kamalhost"
	"github.com/wombatworkouts/berth/e2e/internal/kamalhost/recdocker"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// Kamal prints the command it runs (default verbosity) and decorates every
// output line (-v); berth must read only what the command printed, at every
// verbosity, for `kamal server exec` and `kamal accessory exec` alike. The
// answer here holds a decoy: the markers of the command appear in Kamal's
// echo of it, and a line that merely contains a marker.
func TestFramingAtEveryKamalVerbosity(t *testing.T) {
	srv := kamalhost.StartServer(t, kamalhost.ServerOptions{})
	app := kamalhost.NewApp(t, srv, kamalhost.AppOptions{Service: "berthframe",
		DeployYML: "accessories:\n  litestream:\n    image: litestream/litestream:0.5.18\n    host: " + kamalhost.Host + "\n    cmd: replicate\n"})
	t.Cleanup(func() { removeAll(srv.RemoteHome + "/berthframe-litestream") })
	app.MustKamal(t, "accessory", "boot", "litestream")
	srv.AddRule(t, recdocker.Rule{Args: []string{"exec", "berthframe-litestream"}, Run: true})

	for _, verbosity := range []string{"-q", "", "-v"} {
		for _, where := range []string{"server", "accessory"} {
			name := where + " " + verbosity
			t.Run(name, func(t *testing.T) {
				f := transport.NewFrame()
				script := f.Wrap(`echo version=20261201000000; echo "size=4096 @@berth-end-decoy@@"`)
				args := []string{where, "exec"}
				if where == "accessory" {
					args = append(args, "litestream", "--reuse")
				}
				if verbosity != "" {
					args = append(args, verbosity)
				}
				if where == "accessory" {
					args = append(args, transport.Join([]string{"sh", "-c", script}))
				} else {
					args = append(args, script)
				}
				r := app.MustKamal(t, args...)
				body, ok := f.Extract(r.Output)
				if want := "version=20261201000000\nsize=4096 @@berth-end-decoy@@\n"; !ok || body != want {
					t.Fatalf("read %q (%v), want %q from:\n%s", body, ok, want, r.Output)
				}
				// The trap is real: besides the command's own line, Kamal
				// shows the marker in its echo of the command (accessory
				// exec, default and -v) or in decorated copies (-v), where
				// the first-marker parsing berth had read the echo.
				if n := strings.Count(r.Output, "@@berth-begin-"); verbosity != "-q" && where == "accessory" && n < 2 {
					t.Errorf("the marker appears %d times at %q; the test no longer shows Kamal's echo:\n%s", n, verbosity, r.Output)
				}
			})
		}
	}
}
