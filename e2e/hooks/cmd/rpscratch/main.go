// Temporary: phase experiments (deleted before the report).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
	"github.com/wombatworkouts/berth/hooks/transport"
)

func main() {
	root := flag.String("root", "", "")
	txid := flag.Uint64("txid", 9, "")
	prof := flag.String("prof", "", "")
	flag.Parse()
	replica := filepath.Join(*root, "backups")
	y := strings.Join([]string{"app: bench", "image: ghcr.io/example/bench", "hosts: [127.0.0.1]", "domains: [bench.example.org]",
		"litestream:", "  replica: " + replica, "server:", "  acme:", "    email: ops@bench-example.net", "  state_dir: " + filepath.Join(*root, "state"), ""}, "\n")
	m, err := config.Parse([]byte(y), filepath.Join(*root, "berth.yml"))
	if err != nil {
		panic(err)
	}
	r, err := restorepoint.NewReader(m, config.DefaultDatabase, &transport.Local{}, os.LookupEnv)
	if err != nil {
		panic(err)
	}
	if *prof != "" {
		f, _ := os.Create(*prof)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	work := filepath.Join(*root, "work")
	os.MkdirAll(work, 0o755)
	t := time.Now()
	cr, err := r.Check(context.Background(), *txid, work)
	fmt.Println(time.Since(t), err)
	fmt.Printf("%+v\n", cr)
}
