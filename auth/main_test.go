package auth_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// journalEnv runs this package's tests a second time with every store
// journaling its accepts (synchronous NORMAL, store.Options.Journal):
// every login rule must hold both ways.
const journalEnv = "RADMFA_TEST_AUTH_JOURNAL"

// journaled tells whether newEnv's stores journal their accepts.
var journaled = os.Getenv(journalEnv) != ""

func TestMain(m *testing.M) {
	code := m.Run()
	if journaled || code != 0 {
		os.Exit(code)
	}
	fmt.Println("auth: again, with the accept journal")
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), journalEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Println("auth: with the accept journal:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
