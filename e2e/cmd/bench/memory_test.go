package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/backend"
)

func TestParseCounts(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"1,10,50", []int{1, 10, 50}, ""},
		{" 3 , 7 ,", []int{3, 7}, ""},
		{"", nil, ""},
		{"1,x", nil, `"x"`},
		{"0", nil, "from 1 to 500"},
		{"501", nil, "from 1 to 500"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseCounts(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%v, want an error with %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%v %v, want %v", got, err, tc.want)
			}
		})
	}
}

// The memory comparison's two Traefiks, run for real on two apps: each
// app's requests reach its own backend; with berth, every app has the
// berth middleware and the fallback router berth renders, and without
// berth there is no plugin at all (none in the static configuration).
func TestAppsInTraefik(t *testing.T) {
	var backends []*backend.Server
	for i := 0; i < 2; i++ {
		b, err := backend.Start(fmt.Sprintf("app-%d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		defer b.Stop()
		backends = append(backends, b)
	}
	for _, withBerth := range []bool{false, true} {
		t.Run(fmt.Sprintf("berth %v", withBerth), func(t *testing.T) {
			dir := t.TempDir()
			tr, err := startTraefik(dir, withBerth)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Stop()
			static, err := os.ReadFile(filepath.Join(dir, "traefik.yml"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(static), "localPlugins"); got != withBerth {
				t.Fatalf("plugin in the static configuration: %v\n%s", got, static)
			}
			if err := tr.WriteDynamic("apps.yml", appsConfig(backends, withBerth, t.TempDir(), "")); err != nil {
				t.Fatal(err)
			}
			if err := waitApps(tr, len(backends)); err != nil {
				t.Fatal(err)
			}
			if err := warmUp(tr.WebURL, len(backends), 5); err != nil {
				t.Fatal(err)
			}
			for i := range backends {
				var mw struct {
					Status string `json:"status"`
				}
				err := tr.API(fmt.Sprintf("/api/http/middlewares/app-%d-berth@file", i), &mw)
				if withBerth && (err != nil || mw.Status != "enabled") {
					t.Fatalf("app-%d's berth middleware: %v %+v", i, err, mw)
				}
				if !withBerth && err == nil {
					t.Fatalf("app-%d has a berth middleware without berth", i)
				}
				if withBerth {
					if err := tr.WaitRouter(fmt.Sprintf("app-%d-fallback@file", i), 5*time.Second); err != nil {
						t.Fatal(err)
					}
				}
			}
			if heap, err := liveHeapMiB(tr.APIURL); err != nil || heap < 1 || heap > 1024 {
				t.Fatalf("live heap %v MiB: %v", heap, err)
			}
		})
	}
}
