package config_test

import (
	"context"
	gotls "crypto/tls"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"text/template"
	"time"

	"github.com/traefik/traefik/v3/pkg/config/dynamic"
	"github.com/traefik/traefik/v3/pkg/provider/file"
	traefiktls "github.com/traefik/traefik/v3/pkg/tls"

	"github.com/wombatworkouts/berth/config/render"
	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
)

// Each rendered dynamic file, read by Traefik's own file provider code
// (text/template with Traefik's functions, then its decoder), means what
// berth intends. This catches what the running Traefik accepts silently: a
// TLS version name Traefik does not know is ignored without a word, and a
// maintenance page mangled by the file provider's templating would still
// load.
func TestDynamicFilesReadByTraefiksFileProvider(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			ex := loadExample(t, name)
			app := ex.m.App
			dir := t.TempDir()
			read := func(rel string) *fileConf {
				t.Helper()
				p := filepath.Join(dir, filepath.Base(rel))
				if err := os.WriteFile(p, ex.file(t, rel), 0o644); err != nil {
					t.Fatal(err)
				}
				// As the provider loads a file from its directory.
				conf, err := (&file.Provider{}).CreateConfiguration(context.Background(), p, template.FuncMap{}, false)
				if err != nil {
					t.Fatalf("Traefik's file provider rejects %s: %v", rel, err)
				}
				return &fileConf{conf.HTTP, conf.TLS}
			}

			srv := read(render.ServerDynamicPath)
			opts, ok := srv.tls.Options["default"]
			if !ok {
				t.Fatalf("%s: no tls.options.default", render.ServerDynamicPath)
			}
			if v, known := traefiktls.MinVersion[opts.MinVersion]; !known || v != gotls.VersionTLS12 {
				t.Errorf("tls.options.default.minVersion %q: Traefik reads it as %#x (known: %v), want TLS 1.2", opts.MinVersion, v, known)
			}

			c := read(render.DynamicPath(app))
			mws := c.http.Middlewares
			berth := mws[app+"-berth"]
			if berth == nil || berth.Plugin[berthtraefik.PluginAlias] == nil {
				t.Fatalf("no %s-berth plugin middleware", app)
			}
			conf := berth.Plugin[berthtraefik.PluginAlias]
			if conf["app"] != app {
				t.Errorf("plugin app = %v, want %s", conf["app"], app)
			}
			if ex.m.Template != "" && conf["template"] != ex.m.Template {
				t.Errorf("the maintenance page after Traefik's templating differs from the app's file:\n got: %q\nwant: %q", conf["template"], ex.m.Template)
			}

			h := mws[app+"-headers"]
			if h == nil || h.Headers == nil {
				t.Fatalf("no %s-headers", app)
			}
			if hd := h.Headers; hd.STSSeconds == nil || *hd.STSSeconds != 31536000 || !hd.STSIncludeSubdomains || !hd.FrameDeny || !hd.ContentTypeNosniff ||
				hd.ReferrerPolicy != "strict-origin-when-cross-origin" || hd.ForceSTSHeader {
				t.Errorf("headers: %+v", hd)
			}

			r := mws[app+"-retry"]
			if r == nil || r.Retry == nil || r.Retry.Attempts != 6 || time.Duration(r.Retry.InitialInterval) != 500*time.Millisecond {
				t.Errorf("retry: %+v", r)
			}

			rr := mws[app+"-www-redirect"]
			sources := ex.m.RedirectSources()
			if len(sources) == 0 {
				if rr != nil {
					t.Errorf("%s redirects nothing, yet has %s-www-redirect", app, app)
				}
				return
			}
			if rr == nil || rr.RedirectRegex == nil || !rr.RedirectRegex.Permanent {
				t.Fatalf("www-redirect: %+v", rr)
			}
			// Traefik matches the regex against scheme://host[:port]/uri.
			re, err := regexp.Compile(rr.RedirectRegex.Regex)
			if err != nil {
				t.Fatalf("www-redirect regex: %v", err)
			}
			for in, want := range map[string]string{
				"https://www.wombatworkouts.com/plans?week=2": "https://wombatworkouts.com/plans?week=2",
				"https://www.wombatworkouts.com":              "https://wombatworkouts.com",
				"https://www.wombatworkouts.com:8443/":        "https://wombatworkouts.com/",
				"http://www.wombatworkouts.com/a":             "https://wombatworkouts.com/a",
			} {
				if got := re.ReplaceAllString(in, rr.RedirectRegex.Replacement); got != want {
					t.Errorf("redirect %s -> %s, want %s", in, got, want)
				}
			}
			for _, in := range []string{"https://wombatworkouts.com/plans", "https://www.wombatworkouts.com.evil.example/"} {
				if re.MatchString(in) {
					t.Errorf("redirect regex matches %s", in)
				}
			}
		})
	}
}

type fileConf struct {
	http *dynamic.HTTPConfiguration
	tls  *dynamic.TLSConfiguration
}
