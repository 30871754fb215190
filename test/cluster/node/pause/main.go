// Command pause is the test node's Pod sandbox process: it holds the Pod's
// namespaces, reaps orphaned children (it is PID 1 of the Pod when the Pod
// shares its process namespace) and exits on SIGTERM or SIGINT, so stopping
// a Pod does not wait for the kill timeout.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
