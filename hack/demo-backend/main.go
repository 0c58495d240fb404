// Command demo-backend is the tiny HTTP server behind the quickstart
// (make run): it answers every request with its own name, the Host and the
// path, as plain text, so that curl shows where hagate routed a request.
//
//	go run ./hack/demo-backend -listen 127.0.0.1:9081 -name web
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9081", "address to listen on")
	name := flag.String("name", "demo", "name to answer with")
	flag.Parse()

	srv := &http.Server{
		Addr:              *listen,
		Handler:           handler(*name),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("demo-backend %s listening on %s", *name, *listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// handler answers with the backend's name, the request's Host and path.
func handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "backend: %s\nhost: %s\npath: %s\n", name, r.Host, r.URL.Path)
	})
}
