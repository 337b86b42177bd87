package kamalhost

import (
	"reflect"
	"strings"
	"testing"
)

// deployConfig is checked without Kamal here; the tests that run Kamal show
// Kamal accepts what it writes.
func TestDeployConfig(t *testing.T) {
	srv := &Server{Port: 2222, ClientKey: "/k/id_ed25519", SSHConfig: "/k/ssh_config"}
	wantSSH := map[string]any{"user": "root", "port": 2222, "keys": []any{"/k/id_ed25519"}, "keys_only": true, "config": "/k/ssh_config"}
	tests := []struct {
		name    string
		opts    AppOptions
		check   func(t *testing.T, deploy map[string]any, secrets map[string]string)
		wantErr string
	}{
		{name: "defaults", opts: AppOptions{Service: "svc"}, check: func(t *testing.T, d map[string]any, s map[string]string) {
			if d["service"] != "svc" || d["image"] != "kamalhost/svc" {
				t.Errorf("service, image = %v, %v", d["service"], d["image"])
			}
			web := d["servers"].(map[string]any)["web"].(map[string]any)
			if web["proxy"] != false || !reflect.DeepEqual(web["hosts"], []any{Host}) {
				t.Errorf("servers.web = %v", web)
			}
			reg := d["registry"].(map[string]any)
			if reg["server"] != DefaultRegistry || !reflect.DeepEqual(reg["password"], []any{"KAMAL_REGISTRY_PASSWORD"}) {
				t.Errorf("registry = %v", reg)
			}
			if s["KAMAL_REGISTRY_PASSWORD"] == "" {
				t.Errorf("no registry password secret: %v", s)
			}
			if !reflect.DeepEqual(d["ssh"], wantSSH) {
				t.Errorf("ssh = %v", d["ssh"])
			}
		}},
		{name: "the test's keys win", opts: AppOptions{Service: "svc",
			DeployYML: "image: acme/app\nregistry: {server: ghcr.io, username: me, password: [GHCR]}\ndeploy_timeout: 3\n",
			Secrets:   map[string]string{"GHCR": "x"}},
			check: func(t *testing.T, d map[string]any, s map[string]string) {
				if d["image"] != "acme/app" || d["registry"].(map[string]any)["server"] != "ghcr.io" || d["deploy_timeout"] != 3 {
					t.Errorf("deploy = %v", d)
				}
				if _, ok := s["KAMAL_REGISTRY_PASSWORD"]; ok {
					t.Errorf("registry password added for the test's own registry: %v", s)
				}
			}},
		{name: "ssh is the harness's", opts: AppOptions{Service: "svc", DeployYML: "ssh: {user: deploy}\n"}, wantErr: "sets ssh"},
		{name: "service must agree", opts: AppOptions{Service: "svc", DeployYML: "service: other\n"}, wantErr: "has service other"},
		{name: "bad YAML", opts: AppOptions{Service: "svc", DeployYML: "servers: [\n"}, wantErr: "AppOptions.DeployYML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, s, err := deployConfig(tc.opts, srv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d, s)
		})
	}
}

func TestSecretsFile(t *testing.T) {
	tests := []struct {
		secrets map[string]string
		want    string
		wantErr string
	}{
		{map[string]string{"B": "two", "A": "one"}, "A=one\nB=two\n", ""},
		{map[string]string{"A": "with space $HOME"}, "A='with space $HOME'\n", ""},
		{map[string]string{"A": "it's"}, "", "without quotes"},
		{map[string]string{"1A": "x"}, "", "not a variable name"},
	}
	for _, tc := range tests {
		got, err := secretsFile(tc.secrets)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("secretsFile(%v) err = %v, want %q", tc.secrets, err, tc.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("secretsFile(%v) = %q, %v; want %q", tc.secrets, got, err, tc.want)
		}
	}
}
