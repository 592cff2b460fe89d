package main_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// pgCluster is a throwaway PostgreSQL server on 127.0.0.1, run as the
// postgres user (initdb refuses root), stopped when the test ends.
type pgCluster struct {
	t    *testing.T
	dir  string
	port int
	env  []string
}

func startPostgres(t *testing.T) *pgCluster {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		t.Skip("PostgreSQL 15 server not installed (make test installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("starting the server as the postgres user needs root")
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Skip("no postgres user")
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir, err := os.MkdirTemp("", "arca-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, uid, gid)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := &pgCluster{t: t, dir: dir, port: port,
		env: []string{"PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", port), "PGUSER=postgres"}}
	asPostgres := func(args ...string) {
		t.Helper()
		out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	asPostgres(pgBin+"/initdb", "-D", dir+"/data", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
	asPostgres(pgBin+"/pg_ctl", "-D", dir+"/data", "-l", dir+"/log", "-w", "-o",
		fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c fsync=off -c full_page_writes=off", port, dir), "start")
	t.Cleanup(func() {
		exec.Command("runuser", "-u", "postgres", "--", pgBin+"/pg_ctl", "-D", dir+"/data", "-m", "fast", "-w", "stop").Run()
		os.RemoveAll(dir)
	})
	return c
}

func (c *pgCluster) psql(db, sql string) string {
	c.t.Helper()
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", db, "-c", sql)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("psql %s: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// checksums returns one digest per table over its rows in key order.
func (c *pgCluster) checksums(db string) map[string]string {
	out := map[string]string{}
	for _, tbl := range []string{"users", "products", "orders", "order_items"} {
		out[tbl] = c.psql(db, fmt.Sprintf("SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM %s t", tbl))
	}
	return out
}

const shopSchema = `
CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, name text NOT NULL, created timestamptz NOT NULL);
CREATE TABLE products (id bigserial PRIMARY KEY, sku text NOT NULL, title text NOT NULL, price_cents int NOT NULL, stock int NOT NULL);
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users, status text NOT NULL, placed timestamptz NOT NULL, total_cents bigint NOT NULL);
CREATE TABLE order_items (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders, product_id bigint NOT NULL REFERENCES products, qty int NOT NULL, price_cents int NOT NULL);
`

// fillShop adds users, products and orders (3 items each) with
// deterministic pseudo-random content, for days days of business.
func (c *pgCluster) fillShop(db string, users, products, orders int) {
	c.psql(db, fmt.Sprintf(`
INSERT INTO users (email, name, created)
  SELECT 'user' || i || '@example.com', 'Customer ' || md5(i::text), '2026-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1::bigint, %d) i;
INSERT INTO products (sku, title, price_cents, stock)
  SELECT 'SKU-' || lpad(i::text, 6, '0'), 'Product ' || md5((i * 7)::text), 100 + (i * 7919) %% 50000, (i * 31) %% 1000 FROM generate_series(1::bigint, %d) i;`, users, products))
	c.addOrders(db, orders, users, products, "2026-02-01")
}

func (c *pgCluster) addOrders(db string, n, users, products int, day string) {
	// Explicit ids and totals computed in place: no UPDATE rewrites rows,
	// so the table stays in insertion order, as a shop's would.
	c.psql(db, fmt.Sprintf(`
CREATE TEMP TABLE base AS SELECT coalesce(max(id), 0) AS b FROM orders;
INSERT INTO orders (id, user_id, status, placed, total_cents)
  SELECT b + i, 1 + ((b + i) * 7919) %% %[2]d, 'placed', '%[4]s'::timestamptz + (i %% 86400) * interval '1 second',
    (SELECT sum((1 + (b + i + k) %% 4) * (100 + ((b + i) * k * 13) %% 20000)) FROM generate_series(1, 3) k)
  FROM base, generate_series(1::bigint, %[1]d) i;
INSERT INTO order_items (order_id, product_id, qty, price_cents)
  SELECT b + i, 1 + (((b + i) * 31 + k * 17) %% %[3]d), 1 + (b + i + k) %% 4, 100 + ((b + i) * k * 13) %% 20000
  FROM base, generate_series(1::bigint, %[1]d) i, generate_series(1, 3) k;
SELECT setval('orders_id_seq', (SELECT max(id) FROM orders));`, n, users, products, day))
}

func dumpCommand(db string) []string {
	return []string{"pg_dump", "--no-owner", "--restrict-key=arcatest", "-d", db}
}

type summary struct {
	SnapshotID      string `json:"snapshot_id"`
	DataAdded       int64  `json:"data_added"`
	DataAddedPacked int64  `json:"data_added_packed"`
	TotalBytes      int64  `json:"total_bytes_processed"`
}

func lastSummary(t *testing.T, stdout string) summary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var s summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout)
	}
	return s
}

// TestPostgresShop backs up a shop database with pg_dump through
// --stdin-from-command, adds a day of orders and changes 2% of the orders,
// backs up again, then restores the first snapshot's dump into a new
// database and checks every table against its state at the first backup.
func TestPostgresShop(t *testing.T) {
	pg := startPostgres(t)
	e := newEnv(t)
	e.vars = append(e.vars, pg.env...)
	repoDir := e.initRepo()
	pg.psql("postgres", "CREATE DATABASE shop")
	pg.psql("shop", shopSchema)
	const users, products, orders = 100000, 10000, 700000 // ~100 MB of dump
	pg.fillShop("shop", users, products, orders)
	before := pg.checksums("shop")

	backupDump := func() summary {
		args := append([]string{"-r", repoDir, "--json", "backup", "--stdin-from-command", "--stdin-filename", "shop.sql", "--"}, dumpCommand("shop")...)
		return lastSummary(t, e.must(args...).stdout)
	}
	first := backupDump()

	// A day of business: 1% more orders, and the 2% most recent orders
	// move on in their life cycle.
	pg.addOrders("shop", orders/100, users, products, "2026-03-01")
	pg.psql("shop", fmt.Sprintf("UPDATE orders SET status = 'shipped' WHERE id > (SELECT max(id) FROM orders) - %d", orders/50))
	pg.psql("shop", "UPDATE products SET stock = stock - 1 WHERE id % 50 = 0")
	second := backupDump()
	ratio := float64(second.DataAddedPacked) / float64(second.TotalBytes)
	t.Logf("dump %d bytes; first backup stored %d; second added %d bytes (%.2f%% of the dump)",
		second.TotalBytes, first.DataAddedPacked, second.DataAddedPacked, 100*ratio)
	if ratio > 0.05 {
		t.Errorf("the second backup added %.1f%% of the dump; want at most 5%%", 100*ratio)
	}
	if after := pg.checksums("shop"); after["orders"] == before["orders"] {
		t.Fatal("the day of business changed nothing")
	}

	// Restore the first snapshot's dump into a new database.
	target := filepath.Join(e.dir, "restored")
	e.must("-r", repoDir, "restore", first.SnapshotID, "--target", target)
	pg.psql("postgres", "CREATE DATABASE shop_restored")
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "shop_restored", "-f", filepath.Join(target, "shop.sql"))
	cmd.Env = append(os.Environ(), pg.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql -f restored dump: %v\n%s", err, out)
	}
	got := pg.checksums("shop_restored")
	for tbl, want := range before {
		if got[tbl] != want {
			t.Errorf("table %s: restored %s; want %s (state at the first backup)", tbl, got[tbl], want)
		}
	}

	// The same through a pipe: arca dump | psql.
	pg.psql("postgres", "CREATE DATABASE shop_dumped")
	pipe := exec.Command("sh", "-c", `"$ARCA" -r "$REPO" dump "$SNAP" /shop.sql | psql -X -q -v ON_ERROR_STOP=1 -d shop_dumped`)
	pipe.Env = append(append(append([]string{}, e.vars...), pg.env...), "ARCA="+arcaBin, "REPO="+repoDir, "SNAP="+first.SnapshotID)
	if out, err := pipe.CombinedOutput(); err != nil {
		t.Fatalf("arca dump | psql: %v\n%s", err, out)
	}
	got = pg.checksums("shop_dumped")
	for tbl, want := range before {
		if got[tbl] != want {
			t.Errorf("table %s: dumped %s; want %s (state at the first backup)", tbl, got[tbl], want)
		}
	}
}
