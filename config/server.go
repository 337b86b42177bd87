package config

import (
	"fmt"
	"reflect"
	"strings"
)

// CheckServer checks manifests of apps that share one server (one Traefik,
// one Docker daemon). Each manifest is valid on its own; together they must
// not claim the same name, domain, volume or replica, and must agree on the
// server-wide settings, because whichever app's hook installs Traefik last
// would otherwise silently win.
func CheckServer(ms []*Manifest) error {
	var errs ErrorList
	add := func(m *Manifest, key, format string, args ...any) {
		errs = append(errs, &Error{File: m.Path, Line: m.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	where := func(m *Manifest, key string) string {
		if l := m.Line(key); l > 0 {
			return fmt.Sprintf("%s (%s:%d)", m.App, m.Path, l)
		}
		return fmt.Sprintf("%s (%s)", m.App, m.Path)
	}

	apps := map[string]*Manifest{}
	domains := map[string]*Manifest{}
	domainKeys := map[string]string{}
	volumes := map[string]*Manifest{}
	var replicas []*Manifest
	for _, m := range ms {
		if m == nil {
			continue
		}
		if other, dup := apps[m.App]; dup {
			add(m, "app", "%q is also the app name in %s; two apps on one server need different names "+
				"(containers, volumes and Traefik routers are named after it)", m.App, other.Path)
		} else {
			apps[m.App] = m
		}
		for i, d := range m.Domains {
			key := fmt.Sprintf("domains[%d]", i)
			if other, dup := domains[d]; dup && other != m {
				add(m, key, "%q is claimed by two apps: %s and %s", d, where(other, domainKeys[d]), where(m, key))
				continue
			}
			domains[d], domainKeys[d] = m, key
		}
		if other, dup := volumes[m.Storage.Volume]; dup {
			add(m, "storage.volume", "%q is also the volume of %s; apps must not share their SQLite files", m.Storage.Volume, where(other, "storage.volume"))
		} else {
			volumes[m.Storage.Volume] = m
		}
		for _, other := range replicas {
			if replicasOverlap(other, m) {
				// Two Litestreams writing one replica corrupt it
				// without any error (docs/litestream.md#litestream-as-berth-uses-it).
				add(m, "litestream.replica", "overlaps the replica of %s; each app needs its own replica path, "+
					"two Litestreams writing to one place corrupt the backup", where(other, "litestream.replica"))
			}
		}
		replicas = append(replicas, m)
	}

	// Server-wide settings must agree among the apps on each host.
	byHost := map[string][]*Manifest{}
	var hosts []string
	for _, m := range ms {
		if m == nil {
			continue
		}
		for _, h := range m.Hosts {
			if _, ok := byHost[h]; !ok {
				hosts = append(hosts, h)
			}
			byHost[h] = append(byHost[h], m)
		}
	}
	for _, h := range hosts {
		group := byHost[h]
		first := group[0]
		for _, m := range group[1:] {
			for _, diff := range serverDiff(first.Server, m.Server) {
				add(m, "server."+diff.key, "is %s here but %s in %s; apps on %s share one Traefik, so the server: sections must match",
					diff.b, diff.a, where(first, "server."+diff.key), h)
			}
		}
	}
	return errs.err()
}

// replicaRoot is a replica location normalised for prefix comparison.
func replicaRoot(m *Manifest) string {
	if m.ReplicaIsS3() {
		return strings.TrimRight(m.Litestream.Replica, "/") + "/"
	}
	return "file:" + FileReplicaDir(m.Litestream.Replica) + "/"
}

func replicasOverlap(a, b *Manifest) bool {
	ra, rb := replicaRoot(a), replicaRoot(b)
	if a.ReplicaIsS3() && b.ReplicaIsS3() && a.Litestream.Endpoint != b.Litestream.Endpoint {
		return false // different object stores
	}
	return strings.HasPrefix(ra, rb) || strings.HasPrefix(rb, ra)
}

type fieldDiff struct{ key, a, b string }

// serverDiff lists the server: keys whose values differ, by yaml key path.
func serverDiff(a, b Server) []fieldDiff {
	var out []fieldDiff
	var walk func(prefix string, va, vb reflect.Value)
	walk = func(prefix string, va, vb reflect.Value) {
		t := va.Type()
		for i := 0; i < t.NumField(); i++ {
			name := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			key := joinKey(prefix, name)
			fa, fb := va.Field(i), vb.Field(i)
			if fa.Kind() == reflect.Struct {
				walk(key, fa, fb)
				continue
			}
			if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
				out = append(out, fieldDiff{key, fmt.Sprintf("%q", fmt.Sprint(fa.Interface())), fmt.Sprintf("%q", fmt.Sprint(fb.Interface()))})
			}
		}
	}
	walk("", reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}
