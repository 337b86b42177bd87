package ynode

import (
	"strings"
	"testing"

	_ "github.com/wombatworkouts/berth/config/internal/golden" // defines -update for go test ./config/...
)

func TestAmbiguous11(t *testing.T) {
	for _, tc := range []struct {
		in    string
		quote bool
	}{
		{"true", true}, {"On", true}, {"no", true}, {"~", true}, {"", true},
		{"80", true}, {"0660", true}, {"1_000", true}, {"1.5", true}, {"1e3", true},
		{"190:20:30", true}, {"1000:1000", true}, {"0x1F", true}, {".inf", true},
		{"203.0.113.10", false}, {"unless-stopped", false}, {"10m", false}, {"1s", false},
		{"amd64", false}, {"Host(`a.com`)", false}, {"v3.6.12", false},
	} {
		if got := Ambiguous11(tc.in); got != tc.quote {
			t.Errorf("Ambiguous11(%q) = %v, want %v", tc.in, got, tc.quote)
		}
	}
}

func TestEncode(t *testing.T) {
	root := Map("user", Str("1000:1000"), "on", Bool(true), "n", Int(3), "list", Strs("a", "yes"))
	Comment(root, "n", "why three")
	out, err := Encode("# head\n", root)
	if err != nil {
		t.Fatal(err)
	}
	want := "# head\nuser: \"1000:1000\"\n\"on\": true\n# why three\n\"n\": 3\nlist:\n  - a\n  - \"yes\"\n"
	if string(out) != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "odd") {
			t.Errorf("Map with odd arguments: recover() = %v", r)
		}
	}()
	//lint:ignore SA5012 the odd argument list is what this test is about
	Map("k")
}
