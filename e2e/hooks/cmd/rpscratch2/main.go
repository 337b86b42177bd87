// Temporary: integrity check variants (deleted before the report).
package main

import (
	"database/sql"
	"fmt"
	"os"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	path := os.Args[1]
	variants := []struct{ name, dsn, pragma string }{
		{"plain integrity_check", path, "integrity_check"},
		{"ro immutable", "file:" + path + "?mode=ro&immutable=1", "integrity_check"},
		{"ro immutable cache 256MiB", "file:" + path + "?mode=ro&immutable=1&_pragma=cache_size(-262144)", "integrity_check"},
		{"ro immutable mmap 2GiB", "file:" + path + "?mode=ro&immutable=1&_pragma=mmap_size(2147483648)", "integrity_check"},
		{"ro immutable temp_store mem", "file:" + path + "?mode=ro&immutable=1&_pragma=temp_store(2)", "integrity_check"},
		{"plain quick_check", path, "quick_check"},
		{"ro immutable mmap quick_check", "file:" + path + "?mode=ro&immutable=1&_pragma=mmap_size(2147483648)", "quick_check"},
		{"ro immutable mmap+temp mem", "file:" + path + "?mode=ro&immutable=1&_pragma=mmap_size(2147483648)&_pragma=temp_store(2)", "integrity_check"},
		{"plain integrity_check again", path, "integrity_check"},
	}
	for _, v := range variants {
		db, err := sql.Open("sqlite", v.dsn)
		if err != nil {
			panic(err)
		}
		t := time.Now()
		var res string
		if err := db.QueryRow("PRAGMA " + v.pragma).Scan(&res); err != nil {
			panic(err)
		}
		fmt.Printf("%-32s %s %v\n", v.name, res, time.Since(t).Round(time.Millisecond))
		db.Close()
	}
}
