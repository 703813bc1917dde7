package config_test

import (
	"fmt"
	"strings"

	"disq/engine/config"
)

func ExampleLoad() {
	// disq-server - --port 7712 --bind 127.0.0.1 ::1, with the file on stdin.
	file := "# disq\nport 7000\nmaxmemory 2gb\n"
	cfg, err := config.Load([]string{"-", "--port", "7712", "--bind", "127.0.0.1", "::1"}, strings.NewReader(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Port, cfg.Bind, cfg.MaxMemory)
	// Output:
	// 7712 [127.0.0.1 ::1] 2147483648
}

func ExampleFatalError() {
	err := config.ParseText("port 7711\nport abc\n", config.Default())
	fmt.Println(err)
	// Output:
	//
	// *** FATAL CONFIG FILE ERROR ***
	// Reading the configuration file, at line 2
	// >>> 'port abc'
	// Invalid port
}

func ExampleConfig_Get() {
	cfg := config.Default()
	fmt.Printf("%q\n", cfg.Get("max*"))
	// Output:
	// ["maxmemory" "1073741824" "maxmemory-samples" "5" "maxclients" "10000" "maxmemory-policy" "acks"]
}

func ExampleConfig_Set() {
	cur := config.Default()
	next, err := cur.Set("maxmemory", "100mb")
	fmt.Println(next.MaxMemory, cur.MaxMemory, err)
	_, err = cur.Set("maxmemory", "lots")
	fmt.Println(err)
	_, err = cur.Set("port", "1")
	fmt.Println(err)
	// Output:
	// 104857600 1073741824 <nil>
	// Invalid argument 'lots' for CONFIG SET 'maxmemory'
	// Unsupported CONFIG parameter: port
}
