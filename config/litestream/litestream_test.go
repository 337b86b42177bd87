package litestream_test

import (
	"bytes"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	_ "github.com/wombatworkouts/berth/config/internal/golden" // defines -update for go test ./config/...
	"github.com/wombatworkouts/berth/config/litestream"
)

// v05 is the part of Litestream v0.5's config format berth writes. Decoding
// with KnownFields proves no other key (such as v0.3's `replicas:` or
// `snapshot-interval:`) slips in.
type v05 struct {
	Socket struct {
		Enabled     bool   `yaml:"enabled"`
		Path        string `yaml:"path"`
		Permissions uint32 `yaml:"permissions"`
	} `yaml:"socket"`
	DBs []struct {
		Path    string `yaml:"path"`
		Replica struct {
			Type            string `yaml:"type"`
			URL             string `yaml:"url"`
			Path            string `yaml:"path"`
			Endpoint        string `yaml:"endpoint"`
			Region          string `yaml:"region"`
			AccessKeyID     string `yaml:"access-key-id"`
			SecretAccessKey string `yaml:"secret-access-key"`
		} `yaml:"replica"`
	} `yaml:"dbs"`
}

func render(t *testing.T, src string) v05 {
	t.Helper()
	m, err := config.Parse([]byte(src), "berth.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := litestream.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	var cfg v05
	dec := yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("not the v0.5 format berth means to write: %v\n%s", err, out)
	}
	return cfg
}

const common = `app: wombat_workouts
image: ghcr.io/wombatworkouts/wombat_workouts
hosts: [203.0.113.10]
domains: [wombatworkouts.com]
server:
  acme:
    email: ops@wombatworkouts.com
`

func TestS3Replica(t *testing.T) {
	cfg := render(t, common+`litestream:
  replica: s3://wombat-backups/wombat_workouts/
  endpoint: https://fsn1.your-objectstorage.com
  region: fsn1
  secrets:
    access_key_id: WOMBAT_S3_KEY
    secret_access_key: WOMBAT_S3_SECRET
storage:
  queue_database: production_queue.sqlite3
`)
	if !cfg.Socket.Enabled || cfg.Socket.Path != "/rails/storage/.litestream.sock" || cfg.Socket.Permissions != 0o660 {
		t.Errorf("socket = %+v (permissions %o)", cfg.Socket, cfg.Socket.Permissions)
	}
	if len(cfg.DBs) != 2 {
		t.Fatalf("dbs = %+v", cfg.DBs)
	}
	for i, name := range []string{"production.sqlite3", "production_queue.sqlite3"} {
		db := cfg.DBs[i]
		r := db.Replica
		if db.Path != "/rails/storage/"+name || r.Type != "s3" || r.URL != "s3://wombat-backups/wombat_workouts/"+name ||
			r.Endpoint != "https://fsn1.your-objectstorage.com" || r.Region != "fsn1" || r.Path != "" {
			t.Errorf("db %d = %+v", i, db)
		}
		if r.AccessKeyID != "${WOMBAT_S3_KEY}" || r.SecretAccessKey != "${WOMBAT_S3_SECRET}" {
			t.Errorf("credentials must be env references to the named secrets: %+v", r)
		}
	}
}

func TestFileReplicaAndNoCacheOrCable(t *testing.T) {
	cfg := render(t, common+"litestream:\n  replica: /srv/backups/wombat\n")
	if len(cfg.DBs) != 1 {
		t.Fatalf("only the primary database is replicated by default: %+v", cfg.DBs)
	}
	r := cfg.DBs[0].Replica
	if r.Type != "file" || r.Path != "/srv/backups/wombat/production.sqlite3" || r.URL != "" || r.AccessKeyID != "" {
		t.Errorf("replica = %+v", r)
	}
	for _, db := range cfg.DBs {
		if strings.Contains(db.Path, "cache") || strings.Contains(db.Path, "cable") {
			t.Errorf("%s must never be replicated", db.Path)
		}
	}
}
