package script

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A script runs as the user it names, in a process group of its own.
func TestStartAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("running scripts as another user needs root")
	}
	cred, err := Lookup("nobody", "")
	if err != nil {
		t.Fatal(err)
	}
	// A directory nobody can write in (t.TempDir's parent is private).
	dir, err := os.MkdirTemp("", "vipd-script-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := dir + "/id"
	r, err := Start(Cmd{Argv: []string{"/bin/sh", "-c", `echo "$(id -un) $(ps -o pgid= -p $$) $$ $*" > ` + out, "sh"}, Cred: cred}, "INSTANCE", "VI_1")
	if err != nil {
		t.Fatal(err)
	}
	if r.KillAfter(5*time.Second, time.Second) || r.Err() != nil {
		t.Fatalf("the script failed: %v", r.Err())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 5 || f[0] != "nobody" || f[1] != f[2] || f[3] != "INSTANCE" || f[4] != "VI_1" {
		t.Errorf("the script said %q, want nobody, its own process group and the extra arguments", b)
	}
	if _, err := Lookup("no-such-user-vipd", ""); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("an unknown user: %v", err)
	}
	if _, err := Default("", "", true); err == nil {
		if _, lookErr := Lookup(DefaultUser, ""); lookErr != nil {
			t.Error("with script security and no script user, root must be refused")
		}
	}
}

func TestDescribe(t *testing.T) {
	for _, c := range []struct{ cmd, want string }{
		{"exit 3", "exited with status 3"},
		{"kill -9 $$", "due to signal 9"},
	} {
		err := exec.Command("/bin/sh", "-c", c.cmd).Run()
		if got := Describe(err); got != c.want {
			t.Errorf("%s: %q, want %q", c.cmd, got, c.want)
		}
	}
}
