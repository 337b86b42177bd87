package plugin

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Options as Traefik's providers hand them over: the file provider keeps
// YAML's types, labels give text for everything.
func TestApplyOptionsDecodes(t *testing.T) {
	cases := []struct {
		name string
		opts map[string]interface{}
		want func(c *Config) interface{}
		val  interface{}
	}{
		{"text int", map[string]interface{}{"status": "502"}, func(c *Config) interface{} { return c.Status }, 502},
		{"int", map[string]interface{}{"Status": 500}, func(c *Config) interface{} { return c.Status }, 500},
		{"whole float", map[string]interface{}{"maxHeld": 3.0}, func(c *Config) interface{} { return c.MaxHeld }, 3},
		{"text bool", map[string]interface{}{"enabled": "TRUE"}, func(c *Config) interface{} { return c.Enabled }, true},
		{"number as text", map[string]interface{}{"message": 42}, func(c *Config) interface{} { return c.Message }, "42"},
		{"label list", map[string]interface{}{"allowCIDRs": "10.0.0.0/8, 127.0.0.1"}, func(c *Config) interface{} { return c.AllowCIDRs }, []string{"10.0.0.0/8", "127.0.0.1"}},
		{"yaml list", map[string]interface{}{"alwaysPass": []interface{}{"/up", "/health*"}}, func(c *Config) interface{} { return c.AlwaysPass }, []string{"/up", "/health*"}},
		{"health group, any case", map[string]interface{}{"HEALTH": map[string]interface{}{"Interval": "2s", "healthythreshold": "2"}},
			func(c *Config) interface{} {
				return []interface{}{c.Health.Interval, c.Health.HealthyThreshold, c.Health.Path}
			}, []interface{}{"2s", 2, "/up"}},
		{"interface keys", map[string]interface{}{"health": map[interface{}]interface{}{"path": "/ping"}}, func(c *Config) interface{} { return c.Health.Path }, "/ping"},
		{"windows", map[string]interface{}{"windows": []interface{}{map[string]interface{}{"start": "a", "End": "b", "message": "m"}}},
			func(c *Config) interface{} { return c.Windows }, []Window{{Start: "a", End: "b", Message: "m"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := CreateConfig()
			cfg.Options = tc.opts
			got, err := applyOptions(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if v := tc.want(got); !reflect.DeepEqual(v, tc.val) {
				t.Errorf("got %#v, want %#v", v, tc.val)
			}
			if got.Options != nil {
				t.Errorf("the applied copy keeps the raw options")
			}
			if cfg.Status != 503 || cfg.Health.Interval != "1s" {
				t.Errorf("the caller's Config was changed")
			}
		})
	}
}

func TestApplyOptionsRefuses(t *testing.T) {
	cases := []struct {
		opts map[string]interface{}
		want string
	}{
		{map[string]interface{}{"holdTimout": "5s"}, `berth: unknown option "holdTimout": did you mean "holdTimeout"?`},
		{map[string]interface{}{"allowCIDR": "1.2.3.4"}, `did you mean "allowCIDRs"?`},
		{map[string]interface{}{"trustedProxy": "1.2.3.4"}, `did you mean "trustedProxies"?`},
		{map[string]interface{}{"health": map[string]interface{}{"treshold": 1}}, `unknown option "health.treshold"`},
		{map[string]interface{}{"zzzzzzzzzzzzzzzzzzzz": 1}, `unknown option "zzzzzzzzzzzzzzzzzzzz": want one of allowCIDRs, alwaysPass, app`},
		{map[string]interface{}{"status": "abc"}, `berth: invalid status "abc": want a whole number`},
		{map[string]interface{}{"status": 502.5}, `berth: invalid status "502.5": want a whole number`},
		{map[string]interface{}{"enabled": 1}, `berth: invalid enabled "1": want true or false`},
		{map[string]interface{}{"health": []interface{}{"x"}}, `berth: invalid health "a list"`},
		{map[string]interface{}{"windows": "tonight"}, `berth: invalid windows "tonight": want a list of windows`},
		{map[string]interface{}{"windows": []interface{}{"tonight"}}, `berth: invalid windows[0] "tonight"`},
		{map[string]interface{}{"allowCIDRs": []interface{}{map[string]interface{}{}}}, `berth: invalid allowCIDRs[0] "a group of options"`},
		{map[string]interface{}{"app": "a", "APP": "b"}, `option "app" is given twice`},
	}
	for _, tc := range cases {
		cfg := CreateConfig()
		cfg.Options = tc.opts
		_, err := applyOptions(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.opts, err, tc.want)
		}
	}
}

// Every Config field is reachable by an option: a field added without its
// option would be silently unsettable from Traefik.
func TestEveryFieldHasAnOption(t *testing.T) {
	check := func(typ reflect.Type, known map[string]bool, where string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if f.Name == "Options" {
				continue
			}
			if where == "Config" && f.Tag.Get("mapstructure") != "-" {
				t.Errorf("%s.%s is visible to Traefik's decoder; tag it `mapstructure:\"-\"`", where, f.Name)
			}
			if !known[strings.ToLower(f.Name)] {
				t.Errorf("%s.%s has no option", where, f.Name)
			}
		}
	}
	top := map[string]bool{}
	for k := range topOptions {
		top[k] = true
	}
	check(reflect.TypeOf(Config{}), top, "Config")
	health := map[string]bool{}
	for k := range healthOptions {
		health[k] = true
	}
	check(reflect.TypeOf(HealthConfig{}), health, "HealthConfig")
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"holdtimout", "holdtimeout", 1}, {"kitten", "sitting", 3}} {
		if d := editDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}

// Whatever a provider hands over, applyOptions answers with a config or
// an error naming a key, never a panic.
func FuzzApplyOptions(f *testing.F) {
	for _, seed := range []string{
		`{"app":"a","holdTimout":"5s"}`,
		`{"health":{"interval":2,"enabled":"true"},"windows":[{"start":"x"}]}`,
		`{"allowCIDRs":"1.2.3.4, 5.6.7.8","status":"503","maxHeld":1e30}`,
		`{"windows":[[]],"health":[],"message":{"a":[1]}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var opts map[string]interface{}
		if json.Unmarshal([]byte(doc), &opts) != nil {
			return
		}
		cfg := CreateConfig()
		cfg.Options = opts
		got, err := applyOptions(cfg)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "berth: ") {
				t.Errorf("error %q does not start with berth:", err)
			}
			return
		}
		if got == nil || got.Options != nil {
			t.Errorf("applyOptions returned %+v", got)
		}
	})
}
