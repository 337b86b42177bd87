package config_test

import "testing"

// Host ports Traefik listens on are refused for every other container.
func TestKamalSectionTraefikPorts(t *testing.T) {
	for _, tc := range []struct {
		name, section string
		want          []string
	}{
		{"web role publishes 443", "kamal:\n  servers:\n    web:\n      options:\n        publish: \"443:443\"\n",
			[]string{`:19: kamal.servers.web.options.publish: "443:443" publishes port 443 on the server, where Traefik listens (entry point websecure)`,
				"after the pre-deploy hook already migrated the database", "Traefik reaches the web role over the kamal network by its labels: remove it"}},
		{"accessory port 80", "kamal:\n  accessories:\n    redis:\n      image: valkey/valkey:8\n      host: 203.0.113.10\n      port: \"80:6379\"\n",
			[]string{`:20: kamal.accessories.redis.port: "80:6379" publishes port 80 on the server, where Traefik listens (entry point web)`, "127.0.0.1:6379:6379"}},
		{"accessory bare port", "kamal:\n  accessories:\n    admin:\n      image: adminer\n      host: 203.0.113.10\n      port: 8080\n",
			[]string{`:20: kamal.accessories.admin.port: "8080" publishes port 8080`, "(entry point traefik)"}},
		{"loopback address", "kamal:\n  accessories:\n    redis:\n      image: valkey/valkey:8\n      host: 203.0.113.10\n      port: \"127.0.0.1:443:6379\"\n",
			[]string{`:20: kamal.accessories.redis.port: "127.0.0.1:443:6379" publishes port 443`}},
		{"a list with -p", "kamal:\n  servers:\n    job:\n      hosts: [203.0.113.10]\n      options:\n        p: [\"9000:9000\", \"0.0.0.0:80:3000/tcp\"]\n",
			[]string{`:20: kamal.servers.job.options.p: "0.0.0.0:80:3000/tcp" publishes port 80`, "Publish another host port, or none"}},
		{"a range", "kamal:\n  accessories:\n    x:\n      image: x\n      host: 203.0.113.10\n      options:\n        publish: \"8000-8100:8000-8100\"\n",
			[]string{`:21: kamal.accessories.x.options.publish: "8000-8100:8000-8100" publishes port 8080`}},
		{"IPv6", "kamal:\n  accessories:\n    x:\n      image: x\n      host: 203.0.113.10\n      options:\n        publish: \"[::1]:80:80\"\n",
			[]string{`publishes port 80`}},
		{"long form", "kamal:\n  accessories:\n    x:\n      image: x\n      host: 203.0.113.10\n      options:\n        publish: published=443,target=8443\n",
			[]string{`publishes port 443`}},
		{"kamal-proxy for another role", "kamal:\n  servers:\n    admin:\n      hosts: [203.0.113.10]\n      proxy:\n        host: admin.wombatworkouts.com\n",
			[]string{`:19: kamal.servers.admin.proxy: would start kamal-proxy, which publishes ports 80 and 443 where Traefik listens`}},
		{"kamal-proxy for an accessory", "kamal:\n  accessories:\n    x:\n      image: x\n      host: 203.0.113.10\n      proxy: true\n",
			[]string{`:20: kamal.accessories.x.proxy: would start kamal-proxy`}},
	} {
		checkKamal(t, tc.name, tc.section, tc.want)
	}
}

func TestKamalSectionOtherPorts(t *testing.T) {
	for _, tc := range []struct{ name, section string }{
		{"loopback redis", "kamal:\n  accessories:\n    redis:\n      image: valkey/valkey:8\n      host: 203.0.113.10\n      port: \"127.0.0.1:6379:6379\"\n"},
		{"container port only", "kamal:\n  accessories:\n    redis:\n      image: valkey/valkey:8\n      host: 203.0.113.10\n      options:\n        publish: \"80\"\n"},
		{"random host port", "kamal:\n  accessories:\n    redis:\n      image: valkey/valkey:8\n      host: 203.0.113.10\n      options:\n        publish: \"127.0.0.1::80\"\n"},
		{"a range below", "kamal:\n  servers:\n    job:\n      hosts: [203.0.113.10]\n      options:\n        publish: \"8000-8079:8000-8079\"\n"},
		{"proxy off", "kamal:\n  servers:\n    job:\n      hosts: [203.0.113.10]\n      proxy: false\n"},
	} {
		checkKamal(t, tc.name, tc.section, nil)
	}
}
