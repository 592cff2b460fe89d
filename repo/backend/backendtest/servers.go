package backendtest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Server is a process a test started; Stop (also run at cleanup) stops it
// by PID.
type Server struct {
	Addr   string // host:port
	Dir    string // its data directory
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
}

// Log returns what the server printed so far.
func (s *Server) Log() string { return s.log.String() }

// Stop kills the server and waits for it.
func (s *Server) Stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs cmd in its own process group and waits until ready returns
// true (polled for up to 60 s). The process is stopped at cleanup.
func Start(t testing.TB, cmd *exec.Cmd, addr, dir string, ready func() bool) *Server {
	t.Helper()
	s := &Server{Addr: addr, Dir: dir, cmd: cmd, log: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case <-s.exited:
			t.Fatalf("%s exited before it was ready:\n%s", filepath.Base(cmd.Path), s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			t.Fatalf("%s not ready after 60 s:\n%s", filepath.Base(cmd.Path), s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// httpAnswers returns a readiness check: a GET of url gets any answer.
func httpAnswers(url string) func() bool {
	return func() bool {
		c := http.Client{Timeout: time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
}

// RcloneUser and RclonePassword are the credentials StartRclone's
// server requires.
const (
	RcloneUser     = "arca"
	RclonePassword = "rest-secret"
)

// StartRclone starts `rclone serve restic` on a free loopback port with
// basic authentication (RcloneUser, RclonePassword), serving a new
// directory. It skips the test when rclone is not installed.
func StartRclone(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("rclone")
	if err != nil {
		Skip(t, "rclone is not installed (make deps installs it)")
	}
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	cmd := exec.Command(bin, "serve", "restic", "--addr", addr, "--user", RcloneUser, "--pass", RclonePassword,
		"--config", filepath.Join(dir, "rclone.conf"), filepath.Join(dir, "root"))
	return Start(t, cmd, addr, filepath.Join(dir, "root"), httpAnswers("http://"+addr+"/"))
}

// RequireServers reports whether the servers' tests must run rather than
// skip (ARCA_REQUIRE_SERVERS=1, which make test sets after make deps).
func RequireServers() bool { return os.Getenv("ARCA_REQUIRE_SERVERS") == "1" }

// Skip skips t with why, or fails it when RequireServers says the server
// must be there.
func Skip(t testing.TB, why string) {
	t.Helper()
	if RequireServers() {
		t.Fatalf("%s, and ARCA_REQUIRE_SERVERS=1", why)
	}
	t.Skip(why)
}

// SSHD is an OpenSSH server a test started, with key-only login for the
// user running the test.
type SSHD struct {
	*Server
	Port       int
	User       string
	KeyFile    string // the client's private key
	KnownHosts string // a known_hosts file naming the server's host key
}

// Command returns the ssh command line that opens an SFTP session on the
// server, for -o sftp.command.
func (s *SSHD) Command() []string {
	return []string{"ssh", "-i", s.KeyFile, "-p", strconv.Itoa(s.Port), "-o", "UserKnownHostsFile=" + s.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-F", "none",
		s.User + "@127.0.0.1", "-s", "sftp"}
}

// StartSSHD starts Debian's sshd on a free loopback port with a generated
// host key, accepting only a generated client key. It skips the test when
// sshd is not installed.
func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	const sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		Skip(t, "OpenSSH's sshd is not installed (make deps installs openssh-server)")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		Skip(t, "ssh-keygen is not installed (make deps installs openssh-client)")
	}
	dir := t.TempDir()
	for _, k := range []string{"hostkey", "clientkey"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "clientkey.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	hostPub, err := os.ReadFile(filepath.Join(dir, "hostkey.pub"))
	if err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, fmt.Appendf(nil, "[127.0.0.1]:%d %s", port, hostPub), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll("/run/sshd", 0o755)
	cfg := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
`, port, filepath.Join(dir, "hostkey"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	srv := Start(t, cmd, addr, dir, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return &SSHD{Server: srv, Port: port, User: u.Username, KeyFile: filepath.Join(dir, "clientkey"), KnownHosts: known}
}

// VersityGW credentials of StartVersityGW's root account.
const (
	S3KeyID  = "arcatestkey"
	S3Secret = "arcatestsecret123"
)

// StartVersityGW starts versitygw (an S3 gateway) on a free loopback port
// with its posix backend on a new directory, in which the bucket "arca"
// exists. It skips the test when versitygw is not installed (make deps
// builds it into $(go env GOPATH)/bin).
func StartVersityGW(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		gopath, gerr := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
		if _, err := os.Stat(bin); gerr != nil || err != nil {
			Skip(t, "versitygw is not installed (make deps builds it)")
		}
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "buckets")
	if err := os.MkdirAll(filepath.Join(root, "arca"), 0o700); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	cmd := exec.Command(bin, "--quiet", "--port", addr, "posix", root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+S3KeyID, "ROOT_SECRET_KEY="+S3Secret)
	return Start(t, cmd, addr, root, httpAnswers("http://"+addr+"/"))
}
