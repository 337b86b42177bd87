package plugin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func pageSettings(t *testing.T, edit func(*Config)) *settings {
	t.Helper()
	cfg := validConfig()
	if edit != nil {
		edit(cfg)
	}
	s, err := compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pageServer serves s.servePage(info) on a real socket; now is taken per
// request so Retry-After can be computed from a known instant.
func pageServer(t *testing.T, s *settings, info pageInfo, now time.Time) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.servePage(w, r, info, now)
	})).URL
}

func TestServePageHeaders(t *testing.T) {
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		edit       func(*Config)
		info       pageInfo
		status     int
		retryAfter string
	}{
		{"default", nil, pageInfo{mode: ModeMaintenance}, 503, "30"},
		{"configured status and default", func(c *Config) { c.Status = 502; c.RetryAfter = "2m" }, pageInfo{mode: ModeMaintenance}, 502, "120"},
		{"until", nil, pageInfo{mode: ModeMaintenance, until: now.Add(90 * time.Second)}, 503, "90"},
		{"until rounds up", nil, pageInfo{mode: ModeMaintenance, until: now.Add(90*time.Second + time.Millisecond)}, 503, "91"},
		{"until within a second", nil, pageInfo{mode: ModeMaintenance, until: now.Add(time.Millisecond)}, 503, "1"},
		{"until in the past: default", nil, pageInfo{mode: ModeMaintenance, until: now.Add(-time.Minute)}, 503, "30"},
		{"window end hours away", nil, pageInfo{mode: ModeMaintenance, until: now.Add(3 * time.Hour)}, 503, "10800"},
		{"unavailable", nil, pageInfo{mode: ModeUnavailable}, 503, "30"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := pageSettings(t, tc.edit)
			resp, body := get(t, pageServer(t, s, tc.info, now))
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			h := resp.Header
			if h.Get("Retry-After") != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", h.Get("Retry-After"), tc.retryAfter)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", h.Get("Cache-Control"))
			}
			if h.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", h.Get("Content-Type"))
			}
			if h.Get("X-Berth-Mode") != string(tc.info.mode) {
				t.Errorf("X-Berth-Mode = %q", h.Get("X-Berth-Mode"))
			}
			if h.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length = %q, body is %d bytes", h.Get("Content-Length"), len(body))
			}
			if !strings.Contains(body, "HTTP "+strconv.Itoa(tc.status)) {
				t.Errorf("page does not show the status")
			}
		})
	}
}

func TestServePageEscapesMessage(t *testing.T) {
	s := pageSettings(t, nil)
	msg := `Back soon <script>alert("x")</script> & "quoted"`
	resp, body := get(t, pageServer(t, s, pageInfo{mode: ModeMaintenance, message: msg}, time.Now()))
	if resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if strings.Contains(body, "<script>") {
		t.Fatalf("the message came out unescaped:\n%s", body)
	}
	if !strings.Contains(body, "Back soon &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quoted&#34;") {
		t.Errorf("escaped message missing:\n%s", body)
	}
}

func TestDefaultPageIsSelfContained(t *testing.T) {
	s := pageSettings(t, nil)
	rec := httptest.NewRecorder()
	s.servePage(rec, httptest.NewRequest("GET", "/", nil), pageInfo{mode: ModeMaintenance}, time.Now())
	body := rec.Body.String()
	for _, bad := range []string{"http://", "https://", "<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(body, bad) {
			t.Errorf("the default page references an external asset (%q)", bad)
		}
	}
	for _, want := range []string{"<!DOCTYPE html>", `name="viewport"`, "<title>Down for maintenance</title>", `content="30"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the default page lacks %q", want)
		}
	}
	// A long wait does not make the page reload itself every few seconds.
	rec = httptest.NewRecorder()
	s.servePage(rec, httptest.NewRequest("GET", "/", nil), pageInfo{mode: ModeMaintenance, until: time.Now().Add(time.Hour)}, time.Now())
	if strings.Contains(rec.Body.String(), `http-equiv="refresh"`) {
		t.Errorf("page refreshes itself during an hour-long maintenance")
	}
}

func TestMaintenanceAndUnavailableDiffer(t *testing.T) {
	s := pageSettings(t, func(c *Config) {
		c.Message = "Planned work on the database."
		c.UnavailableMessage = "Something broke; we are on it."
	})
	until := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	now := until.Add(-time.Hour)
	render := func(info pageInfo, accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		s.servePage(rec, r, info, now)
		return rec
	}
	m := render(pageInfo{mode: ModeMaintenance, until: until}, "").Body.String()
	u := render(pageInfo{mode: ModeUnavailable}, "").Body.String()
	if !strings.Contains(m, "Down for maintenance") || !strings.Contains(m, "Planned work on the database.") {
		t.Errorf("maintenance page:\n%s", m)
	}
	if !strings.Contains(m, "Tue, 01 Dec 2026 03:00 UTC") || !strings.Contains(m, `datetime="2026-12-01T03:00:00Z"`) {
		t.Errorf("maintenance page does not say when it ends:\n%s", m)
	}
	if !strings.Contains(u, "Temporarily unavailable") || !strings.Contains(u, "Something broke; we are on it.") {
		t.Errorf("unavailable page:\n%s", u)
	}
	if strings.Contains(u, "maintenance") || strings.Contains(m, "Something broke") {
		t.Errorf("the two pages share their text")
	}
	// A message given with the state wins over the configured one.
	own := render(pageInfo{mode: ModeMaintenance, message: "Moving to a new server"}, "").Body.String()
	if !strings.Contains(own, "Moving to a new server") || strings.Contains(own, "Planned work") {
		t.Errorf("state message not used")
	}
	// JSON clients see the same distinction.
	var mj, uj pageJSON
	_ = json.Unmarshal(render(pageInfo{mode: ModeMaintenance, until: until}, "application/json").Body.Bytes(), &mj)
	_ = json.Unmarshal(render(pageInfo{mode: ModeUnavailable}, "application/json").Body.Bytes(), &uj)
	if mj.Mode != "maintenance" || mj.Message != "Planned work on the database." || mj.Until != "2026-12-01T03:00:00Z" || mj.RetryAfter != 3600 {
		t.Errorf("maintenance JSON = %+v", mj)
	}
	if uj.Mode != "unavailable" || uj.Message != "Something broke; we are on it." || uj.Until != "" || uj.Status != 503 || uj.App != "web" {
		t.Errorf("unavailable JSON = %+v", uj)
	}
}

func TestPrefersJSON(t *testing.T) {
	cases := map[string]bool{
		"":                                  false,
		"*/*":                               false,
		"text/html":                         false,
		"application/json":                  true,
		"Application/JSON":                  true,
		"application/problem+json":          true,
		"application/vnd.api+json":          true,
		"application/json, text/plain, */*": true, // axios
		"application/json, text/html":       false,
		"text/html, application/json":       false,
		"text/html;q=0.9, application/json": true,
		"application/json;q=0.9, text/html": false,
		"application/json;q=0.9, */*;q=0.8": true,
		"application/json;q=0.5, */*":       false,
		"application/json;q=0, */*":         false,
		"application/json; q=0":             false,
		"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8": false, // Firefox
		"text/html;q=0, application/json;q=0.1":                                                 true,
		"application/json;q=bogus":                                                              true,
		"application/json;q=NaN":                                                                false,
		"text/*;q=0.5, application/json;q=0.6":                                                  true,
		"application/xml":                                                                       false,
		";;;,,,":                                                                                false,
	}
	for accept, want := range cases {
		if got := prefersJSON(accept); got != want {
			t.Errorf("prefersJSON(%q) = %v, want %v", accept, got, want)
		}
	}
}

// FuzzPrefersJSON: the one parser on the maintenance page's path, which
// runs without a recover (see serveNotLive), never panics, and never picks
// JSON for a client that did not name it.
func FuzzPrefersJSON(f *testing.F) {
	for _, s := range []string{"", "*/*", "application/json", "text/html;q=0.5, application/json", ";;,,q=", "application/json;q=abc", "APPLICATION/JSON;q=1e309"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		if prefersJSON(accept) && !strings.Contains(strings.ToLower(accept), "json") {
			t.Errorf("prefersJSON(%q) = true without json in it", accept)
		}
	})
}

func TestServePageJSONAndHEAD(t *testing.T) {
	s := pageSettings(t, nil)
	url := pageServer(t, s, pageInfo{mode: ModeMaintenance, message: "<b>db</b>"}, time.Now())

	resp, body := get(t, url, "Accept", "application/json")
	if resp.Header.Get("Content-Type") != "application/json; charset=utf-8" || resp.StatusCode != 503 {
		t.Fatalf("JSON answer: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var pj pageJSON
	if err := json.Unmarshal([]byte(body), &pj); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	if pj.Status != 503 || pj.Mode != "maintenance" || pj.Message != "<b>db</b>" || pj.RetryAfter != 30 {
		t.Errorf("JSON = %+v", pj)
	}
	if resp.Header.Get("Retry-After") != "30" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("JSON headers = %v", resp.Header)
	}

	for _, accept := range []string{"", "application/json"} {
		req, _ := http.NewRequest(http.MethodHead, url, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, body = do(t, nil, req)
		if resp.StatusCode != 503 || body != "" || resp.Header.Get("Retry-After") != "30" {
			t.Errorf("HEAD (Accept %q): %d %q %v", accept, resp.StatusCode, body, resp.Header)
		}
	}
	// HEAD through a recorder: nothing written at all.
	rec := httptest.NewRecorder()
	s.servePage(rec, httptest.NewRequest(http.MethodHead, "/", nil), pageInfo{mode: ModeMaintenance}, time.Now())
	if rec.Body.Len() != 0 || rec.Code != 503 {
		t.Errorf("HEAD wrote %d bytes, status %d", rec.Body.Len(), rec.Code)
	}
}

func TestCustomTemplates(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "503.html")
	tmpl := `<main data-mode="{{.Mode}}" data-app="{{.App}}">{{.Title}}|{{.Message}}|{{.RetryAfter}}|{{.Status}}</main>`
	if err := os.WriteFile(file, []byte("FILE"+tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		prefix string
	}{
		{"inline", func(c *Config) { c.Template = "INLINE" + tmpl }, "INLINE"},
		{"file", func(c *Config) { c.TemplateFile = file }, "FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := pageSettings(t, tc.edit)
			_, body := get(t, pageServer(t, s, pageInfo{mode: ModeMaintenance, message: "<i>x</i>"}, time.Now()))
			want := tc.prefix + `<main data-mode="maintenance" data-app="web">Down for maintenance|&lt;i&gt;x&lt;/i&gt;|30|503</main>`
			if body != want {
				t.Errorf("body = %q, want %q", body, want)
			}
		})
	}
}

// A custom template that only fails for some data falls back to the default
// page instead of an empty answer.
func TestCustomTemplateFallsBack(t *testing.T) {
	s := pageSettings(t, func(c *Config) {
		c.Template = `{{if eq .Mode "unavailable"}}{{.NoSuchField}}{{end}}custom {{.Message}}`
	})
	rec := httptest.NewRecorder()
	s.servePage(rec, httptest.NewRequest("GET", "/", nil), pageInfo{mode: ModeMaintenance}, time.Now())
	if !strings.HasPrefix(rec.Body.String(), "custom ") {
		t.Fatalf("custom template not used: %q", rec.Body.String())
	}
	logged := len(testLog.lines("page template failed"))
	rec = httptest.NewRecorder()
	s.servePage(rec, httptest.NewRequest("GET", "/", nil), pageInfo{mode: ModeUnavailable}, time.Now())
	body := rec.Body.String()
	if rec.Code != 503 || !strings.Contains(body, "<!DOCTYPE html>") || !strings.Contains(body, "Temporarily unavailable") {
		t.Errorf("fallback page: %d %q", rec.Code, body)
	}
	if rec.Header().Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q for %d bytes", rec.Header().Get("Content-Length"), len(body))
	}
	if len(testLog.lines("page template failed")) == logged {
		t.Errorf("the template failure was not logged")
	}
}

// A reload re-reads templateFile, so the page an operator edited shows up
// although the configuration (and so the shared controller) is the same.
func TestReloadShowsTheEditedTemplate(t *testing.T) {
	tmpl := filepath.Join(t.TempDir(), "page.html")
	if err := os.WriteFile(tmpl, []byte("<p>first {{.Message}}</p>"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("template-reload")
	cfg.Enabled = true
	cfg.TemplateFile = tmpl
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("next called in maintenance") })
	body := func(b *Berth) string {
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Body.String()
	}
	first := newBerth(t, cfg, next)
	if got := body(first); !strings.Contains(got, "first") {
		t.Fatalf("page = %q, want the first template", got)
	}
	if err := os.WriteFile(tmpl, []byte("<p>second {{.Message}}</p>"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := newBerth(t, cfg, next)
	if second.c != first.c {
		t.Fatal("the reload did not share the controller")
	}
	if got := body(second); !strings.Contains(got, "second") {
		t.Errorf("page after the reload = %q, want the edited template", got)
	}
}
