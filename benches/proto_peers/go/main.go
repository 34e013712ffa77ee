// The TechEmpower plaintext and json endpoints on Go's net/http, to measure spindle's
// http_server example against. Run with GOMAXPROCS=1 for one core:
//
//	go build -o go_http main.go && GOMAXPROCS=1 ./go_http 127.0.0.1:8083
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
)

type message struct {
	Message string `json:"message"`
}

func main() {
	addr := "127.0.0.1:8083"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	http.HandleFunc("/plaintext", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "go")
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("Hello, World!"))
	})
	http.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(message{Message: "Hello, World!"})
		w.Header().Set("Server", "go")
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	fmt.Println("go_http listening on", addr)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "go_http:", err)
		os.Exit(1)
	}
}
