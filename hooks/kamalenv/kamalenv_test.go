package kamalenv

import (
	"errors"
	"strings"
	"testing"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func full() map[string]string {
	return map[string]string{
		"KAMAL_SERVICE": "shop", "KAMAL_VERSION": "abc1234", "KAMAL_HOSTS": "203.0.113.10,203.0.113.11",
		"KAMAL_COMMAND": "deploy", "KAMAL_LOCK": "true", "KAMAL_PERFORMER": "alice", "KAMAL_DESTINATION": "staging",
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		hook    string
		edit    func(map[string]string)
		wantErr []string
		missing bool
	}{
		{"complete", PreDeploy, func(map[string]string) {}, nil, false},
		{"docker-setup needs less", DockerSetup, func(m map[string]string) { delete(m, "KAMAL_VERSION"); delete(m, "KAMAL_COMMAND") }, nil, false},
		{"missing", PreDeploy, func(m map[string]string) { delete(m, "KAMAL_VERSION"); delete(m, "KAMAL_HOSTS") },
			[]string{"KAMAL_VERSION, KAMAL_HOSTS are not set", "berth hook pre-deploy"}, true},
		{"none at all", PostDeploy, func(m map[string]string) {
			for k := range m {
				delete(m, k)
			}
		}, []string{"KAMAL_SERVICE, KAMAL_VERSION, KAMAL_HOSTS, KAMAL_COMMAND are not set"}, true},
		{"bad service", PreDeploy, func(m map[string]string) { m["KAMAL_SERVICE"] = "Shop App" }, []string{`KAMAL_SERVICE="Shop App"`}, false},
		{"bad version", PreDeploy, func(m map[string]string) { m["KAMAL_VERSION"] = "a b" }, []string{`KAMAL_VERSION="a b"`}, false},
		{"bad host", PreDeploy, func(m map[string]string) { m["KAMAL_HOSTS"] = "ok,bad host;rm" }, []string{`"bad host;rm"`}, false},
		{"bad lock", PreDeploy, func(m map[string]string) { m["KAMAL_LOCK"] = "yes" }, []string{"KAMAL_LOCK"}, false},
		{"bad destination", PreDeploy, func(m map[string]string) { m["KAMAL_DESTINATION"] = "../x" }, []string{"KAMAL_DESTINATION"}, false},
		{"unknown hook", "pre-build", func(map[string]string) {}, []string{"unknown hook"}, false},
		{"a command that never runs pre-deploy", PreDeploy, func(m map[string]string) { m["KAMAL_COMMAND"] = "accessory" },
			[]string{`KAMAL_COMMAND="accessory"`, "only for `kamal deploy`"}, false},
		{"app boot runs the app-boot hooks", PreAppBoot, func(m map[string]string) { m["KAMAL_COMMAND"], m["KAMAL_SUBCOMMAND"] = "app", "boot" }, nil, false},
		{"app boot without KAMAL_SUBCOMMAND (Thor 1.2)", PreAppBoot, func(m map[string]string) { m["KAMAL_COMMAND"] = "app" }, nil, false},
		{"app start runs no hooks", PostAppBoot, func(m map[string]string) { m["KAMAL_COMMAND"], m["KAMAL_SUBCOMMAND"] = "app", "start" },
			[]string{`KAMAL_COMMAND="app start"`}, false},
		{"docker-setup from server bootstrap", DockerSetup, func(m map[string]string) { m["KAMAL_COMMAND"], m["KAMAL_SUBCOMMAND"] = "server", "bootstrap" }, nil, false},
		{"docker-setup from deploy", DockerSetup, func(m map[string]string) { m["KAMAL_COMMAND"] = "deploy" }, []string{"docker-setup hook only for `kamal setup`, `kamal server bootstrap`"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := full()
			tc.edit(m)
			e, err := Parse(tc.hook, lookup(m))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if e.Primary() != "203.0.113.10" && tc.hook != DockerSetup {
					t.Fatalf("primary %q", e.Primary())
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if errors.Is(err, ErrMissing) != tc.missing {
				t.Errorf("ErrMissing = %v", !tc.missing)
			}
		})
	}
}

func TestCheckServiceAndKinds(t *testing.T) {
	m := full()
	m["KAMAL_COMMAND"] = "rollback"
	e, err := Parse(PreDeploy, lookup(m))
	if err != nil {
		t.Fatal(err)
	}
	if !e.IsRollback() || e.IsSetup() {
		t.Fatal("rollback not recognised")
	}
	if err := e.CheckService("shop", "config/berth.yml"); err != nil {
		t.Fatal(err)
	}
	if err := e.CheckService("other", "config/berth.yml"); err == nil || !strings.Contains(err.Error(), `app: "other"`) {
		t.Fatalf("got %v", err)
	}
	if err := e.CheckHosts([]string{"198.51.100.7", "203.0.113.10"}, "config/berth.yml"); err != nil {
		t.Fatal(err)
	}
	if err := e.CheckHosts([]string{"198.51.100.7"}, "config/berth.yml"); err == nil || !strings.Contains(err.Error(), "203.0.113.10, which is not among the hosts") {
		t.Fatalf("got %v", err)
	}
}
