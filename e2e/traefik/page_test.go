package traefik_test

import (
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

// The default page, served by berth inside Traefik, rendered by headless
// Chromium at a phone's and a desktop's width: the screenshot is not blank
// and the rendered DOM holds the page's text. Screenshots are kept in
// e2e/out/ for a person to look at.
func TestDefaultPageInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run `make setup` (Debian package chromium)")
	}
	app := startBackend(t, "page")
	apply(t, shared, "page.yml", dynamicFile(
		[]route{{name: "page", middlewares: []string{"page-berth"}, servers: []string{app.URL()}}},
		map[string]string{"page-berth": berthMiddleware("app: wombatworkouts\nenabled: true\nmessage: We are upgrading the workout log. Your data is safe.\nhealth:\n  enabled: false")},
	), "page")
	waitStatus(t, "/page", 503, 5*time.Second)

	root, err := pluginsrc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "e2e", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	url := shared.WebURL + "/page"
	for _, size := range []struct{ name, window string }{{"phone", "390,844"}, {"desktop", "1280,800"}} {
		shot := filepath.Join(out, "maintenance-"+size.name+".png")
		os.Remove(shot)
		if outp, err := chromium(t, browser, "--window-size="+size.window, "--screenshot="+shot, url); err != nil {
			t.Fatalf("%s screenshot: %v\n%s", size.name, err, outp)
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("%s: no screenshot: %v", size.name, err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", size.name, err)
		}
		if share := inkShare(img); share < 0.002 || share > 0.6 {
			t.Errorf("%s: %.2f%% of the pixels differ from the background: blank or broken", size.name, 100*share)
		} else {
			t.Logf("%s: %s, %.1f%% ink", size.name, shot, 100*share)
		}
	}
	dom, err := chromium(t, browser, "--window-size=390,844", "--dump-dom", url)
	if err != nil {
		t.Fatalf("dump-dom: %v\n%s", err, dom)
	}
	for _, want := range []string{"Down for maintenance", "We are upgrading the workout log. Your data is safe.", "wombatworkouts"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
}

func chromium(t *testing.T, browser string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// inkShare is the share of pixels that differ clearly from the top-left
// pixel (the page background).
func inkShare(img image.Image) float64 {
	b := img.Bounds()
	br, bg, bb, _ := img.At(b.Min.X, b.Min.Y).RGBA()
	diff := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if absDiff(r, br)+absDiff(g, bg)+absDiff(bl, bb) > 3*0x1000 {
				diff++
			}
		}
	}
	return float64(diff) / float64(b.Dx()*b.Dy())
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
