package railscheck_test

import (
	"strconv"
	"strings"
	"testing"

	_ "github.com/wombatworkouts/berth/config/internal/golden" // defines -update for go test ./config/...
	"github.com/wombatworkouts/berth/config/railscheck"
)

// What Rails 8.1 generates (the relevant lines).
const generated = `Rails.application.configure do
  # Assume all access to the app is happening through a SSL-terminating reverse proxy.
  # config.assume_ssl = true

  # Force all access to the app over SSL, use Strict-Transport-Security, and use secure cookies.
  # config.force_ssl = true
end
`

func TestCheckProduction(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string // "setting:line:fragment"
	}{
		{"rails 8.1 default", generated, []string{"assume_ssl:3:commented out", "force_ssl:6:commented out"}},
		{"both on", "config.assume_ssl = true\n  config.force_ssl = true\n", nil},
		{"trailing comment", "config.assume_ssl = true # behind Traefik\nconfig.force_ssl = true\n", nil},
		{"false", "config.assume_ssl = false\nconfig.force_ssl = true\n", []string{"assume_ssl:1:is false"}},
		{"missing", "config.force_ssl = true\n", []string{"assume_ssl:0:not set"}},
		{"expression", "config.assume_ssl = ENV['SSL'] == '1'\nconfig.force_ssl = true\n", []string{"assume_ssl:1:expression"}},
		{"commented after active", "config.assume_ssl = true\n# config.assume_ssl = false\nconfig.force_ssl = true\n", nil},
		{"uncommented later", "# config.force_ssl = true\nconfig.force_ssl = true\nconfig.assume_ssl = true\n", nil},
		{"empty file", "", []string{"assume_ssl:0:not set", "force_ssl:0:not set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := railscheck.CheckProduction([]byte(tc.src))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings %v, want %v", len(got), got, tc.want)
			}
			for i, w := range tc.want {
				parts := strings.SplitN(w, ":", 3)
				f := got[i]
				if f.Setting != parts[0] || strconv.Itoa(f.Line) != parts[1] || !strings.Contains(f.Message, parts[2]) {
					t.Errorf("finding %d = %+v, want %s", i, f, w)
				}
				if !strings.Contains(f.Message, "config."+f.Setting) {
					t.Errorf("message does not name the setting: %s", f.Message)
				}
			}
		})
	}
}
