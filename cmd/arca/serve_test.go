package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arcabackup/arca/repo/backend/backendtest"
	"github.com/arcabackup/arca/repo/fstest"
	"golang.org/x/crypto/bcrypt"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "arca test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(priv)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// repoFileSet returns the files of the repositories under root.
func repoFileSet(root string) map[string]bool {
	m := map[string]bool{}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "/.owners/") {
			m[p] = true
		}
		return nil
	})
	return m
}

// TestServe: arca serve over TLS with htpasswd users. An append-only user
// backs up; its forget and prune are refused with a message that says so,
// and nothing is deleted; a read-only user restores but cannot back up; a
// wrong password is refused; the full user forgets and prunes.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "repos")
	os.MkdirAll(root, 0o700)
	var htpasswd strings.Builder
	for _, u := range []string{"admin", "robot", "viewer"} {
		h, _ := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.MinCost)
		fmt.Fprintf(&htpasswd, "%s:%s\n", u, h)
	}
	os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(htpasswd.String()), 0o600)
	cert, key := selfSigned(t, dir)
	addr := "127.0.0.1:" + strconv.Itoa(backendtest.FreePort(t))
	cmd := exec.Command(arcaBin, "serve", "--path", root, "--listen", addr, "--htpasswd", filepath.Join(dir, "htpasswd"),
		"--tls-cert", cert, "--tls-key", key, "--permission", "robot=append-only", "--permission", "viewer=read-only")
	backendtest.Start(t, cmd, addr, root, func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return false
		}
		c.Close()
		return true
	})

	e := newEnv(t)
	as := func(user string, args ...string) result {
		t.Helper()
		loc := fmt.Sprintf("rest:https://%s:%s-pw@%s/shop/", user, user, addr)
		return e.run(append([]string{"-r", loc, "--cacert", cert}, args...)...)
	}
	must := func(user string, args ...string) result {
		t.Helper()
		r := as(user, args...)
		if r.code != 0 {
			t.Fatalf("%s: arca %v: exit %d\n%s%s", user, args, r.code, r.stdout, r.stderr)
		}
		return r
	}
	must("admin", append([]string{"init"}, cheapKDF...)...)
	src := filepath.Join(e.dir, "src")
	nestedTree(t, src, 1)
	must("robot", "backup", src)
	os.RemoveAll(filepath.Join(src, "d1"))
	must("robot", "backup", src)

	before := repoFileSet(root)
	refused := func(args ...string) {
		t.Helper()
		r := as("robot", args...)
		if r.code == 0 || !strings.Contains(r.stderr, "append-only") {
			t.Errorf("robot: arca %v: exit %d; want a refusal that names append-only access:\n%s", args, r.code, r.stderr)
		}
		after := repoFileSet(root)
		for p := range before {
			if !after[p] {
				t.Errorf("robot: arca %v deleted %s", args, p)
			}
		}
	}
	refused("forget", "--keep-last", "1")
	refused("forget", "--keep-last", "1", "--prune")
	must("admin", "forget", "--keep-last", "1") // now there is something to prune
	before = repoFileSet(root)
	refused("prune", "--max-unused", "0")
	refused("prune", "--now", "--max-unused", "0")

	r := as("viewer", "backup", src)
	if r.code == 0 || !strings.Contains(r.stderr, "read-only") {
		t.Errorf("viewer backup: exit %d\n%s", r.code, r.stderr)
	}
	target := filepath.Join(e.dir, "restored")
	must("viewer", "restore", "latest", "--target", target)
	fstest.Compare(t, src, filepath.Join(target, src))

	r = e.run("-r", "rest:https://admin:wrong@"+addr+"/shop/", "--cacert", cert, "snapshots")
	if r.code == 0 || !strings.Contains(r.stderr, "401") {
		t.Errorf("wrong password: exit %d\n%s", r.code, r.stderr)
	}
	r = e.run("-r", "rest:https://admin:admin-pw@"+addr+"/shop/", "snapshots")
	if r.code == 0 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("without --cacert: exit %d; want a certificate error\n%s", r.code, r.stderr)
	}

	if out := must("admin", "prune", "--now", "--max-unused", "0").stdout; strings.Contains(out, "that new snapshots use") || strings.Contains(out, "deleted 0 ") {
		t.Errorf("admin prune after the append-only user's refused one (which repacked before it was refused):\n%s", out)
	}
	must("admin", "check", "--read-data")
	after := repoFileSet(root)
	gone := 0
	for p := range before {
		if !after[p] {
			gone++
		}
	}
	if gone == 0 {
		t.Error("admin's prune removed nothing")
	}
}
