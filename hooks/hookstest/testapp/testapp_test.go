package testapp

import "testing"

func TestNewLoads(t *testing.T) {
	for _, o := range []Options{{}, {Replica: "s3://bucket/shop", Endpoint: "http://127.0.0.1:9"}, {Queue: true, Policy: "always"}} {
		a := New(t, o)
		if a.Manifest.App != "shop" {
			t.Fatalf("app %q", a.Manifest.App)
		}
	}
}
