// Package cli is arca's command line: one file per command, each parsing
// flags, calling one library function and rendering text or --json.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Version is the program version, set at build time with -ldflags.
var Version = "0.1.0-dev"

type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	repo         string
	passwordFile string
	passwordCmd  string
	keyHint      string
	cacheDir     string
	noCache      bool
	json         bool
	quiet        bool
	verbose      int
	kdf          crypto.KDFParams
	be           backendFlags
	backends     []backend.Backend // opened, closed when the command ends

	getenv func(string) string
}

// Main runs arca with args and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, args, stdin, stdout, stderr, os.Getenv)
}

// run is Main with the environment given as a function (for tests).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.verbose >= 2 && !a.json {
		if c, ok := a.requests(); ok {
			fmt.Fprintf(stderr, "requests: %d (%d saves, %d loads, %d stats, %d lists, %d removes; by type:%s), %s up, %s down\n",
				c.Requests(), c.Saves, c.Loads, c.Stats, c.Lists, c.Removes, byType(c), bytesText(c.BytesUp), bytesText(c.BytesDown))
		}
	}
	for _, be := range a.backends {
		be.Close() // ends an SFTP session's ssh
	}
	if errors.Is(err, syscall.EPIPE) {
		return ExitOK // the reader of our output stopped early: nothing is wrong
	}
	if err != nil {
		code := ExitCode(err)
		msg := userText(err.Error())
		if errors.Is(err, snapshot.ErrNotFound) {
			msg += " ('arca snapshots' lists them)"
		}
		if a.json {
			// As restic: the error ending the command goes to stderr, so
			// stdout holds only the command's own messages.
			b, _ := json.Marshal(map[string]any{"message_type": "exit_error", "code": code, "message": msg})
			fmt.Fprintln(stderr, string(b))
		} else if code != ExitPartial {
			fmt.Fprintf(stderr, "arca: %s\n", msg)
		} else {
			fmt.Fprintf(stderr, "arca: warning: %s\n", msg)
		}
		return code
	}
	return ExitOK
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "arca",
		Short: "Deduplicating, encrypted backups",
		Long: `arca backs up files into a content-addressed, deduplicating, encrypted repository.

Without -r, arca uses the local repository ` + defaultRepoHelp() + `; ` + "`arca backup`" + ` creates it on first use.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetUsageTemplate(root.UsageTemplate() + "\n" + exitHelp + "\n")
	f := root.PersistentFlags()
	f.StringVarP(&a.repo, "repo", "r", "", "repository location (env ARCA_REPOSITORY; default "+defaultRepoHelp()+")")
	f.StringVar(&a.passwordFile, "password-file", "", "read the password from a file (env ARCA_PASSWORD_FILE)")
	f.StringVar(&a.passwordCmd, "password-command", "", "read the password from a command's output (env ARCA_PASSWORD_COMMAND)")
	f.StringVar(&a.keyHint, "key-hint", "", "try this key file (an ID prefix) first, also if its key derivation is costlier than arca tries by itself (env ARCA_KEY_HINT)")
	f.StringVar(&a.cacheDir, "cache-dir", "", "local cache directory (env ARCA_CACHE_DIR; default $XDG_CACHE_HOME/arca)")
	f.BoolVar(&a.noCache, "no-cache", false, "use a temporary cache, removed at exit")
	f.BoolVar(&a.json, "json", false, "print JSON instead of text")
	f.BoolVarP(&a.quiet, "quiet", "q", false, "print nothing but errors")
	f.CountVarP(&a.verbose, "verbose", "v", "print more (repeat for more)")
	a.addBackendFlags(root)
	a.addProfileFlags(root)
	root.AddCommand(a.initCommand(), a.backupCommand(), a.snapshotsCommand(), a.restoreCommand(),
		a.lsCommand(), a.catCommand(), a.keyCommand(), a.versionCommand(),
		a.diffCommand(), a.findCommand(), a.statsCommand(), a.tagCommand(), a.dumpCommand(), a.mountCommand(),
		a.generateCommand(), a.unlockCommand(), a.forgetCommand(), a.checkCommand(), a.pruneCommand(), a.migrateCommand(), a.repairCommand(), a.serveCommand(), a.copyCommand())
	a.registerCompletions(root)
	return root
}

func defaultRepoHelp() string { return "$XDG_DATA_HOME/arca/repo (~/.local/share/arca/repo)" }

// defaultRepo is the embedded default repository's location.
func (a *app) defaultRepo() (string, error) {
	if d := a.getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "arca", "repo"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no repository given and no home directory for the default: %w", err)
	}
	return filepath.Join(home, ".local", "share", "arca", "repo"), nil
}

// location returns the repository location and whether it is the default.
func (a *app) location() (string, bool, error) {
	loc := a.repo
	if loc == "" {
		loc = a.getenv("ARCA_REPOSITORY")
	}
	if loc != "" {
		return loc, false, nil
	}
	d, err := a.defaultRepo()
	return d, true, err
}

func (a *app) cacheBase() (string, error) {
	if a.noCache {
		return "", nil
	}
	if a.cacheDir != "" {
		return a.cacheDir, nil
	}
	if d := a.getenv("ARCA_CACHE_DIR"); d != "" {
		return d, nil
	}
	if d := a.getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "arca"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", nil // no cache directory: use a temporary cache
	}
	return filepath.Join(d, "arca"), nil
}

// openRepo is the one place commands open the repository.
func (a *app) openRepo(ctx context.Context) (*repo.Repository, error) {
	loc, _, err := a.location()
	if err != nil {
		return nil, err
	}
	return a.openRepoAt(ctx, loc, func() ([]byte, error) { return a.password(false) })
}

// openRepoAt opens the repository at loc with the password password reads.
func (a *app) openRepoAt(ctx context.Context, loc string, password func() ([]byte, error)) (*repo.Repository, error) {
	be, err := a.openBackendAt(ctx, loc)
	if err != nil {
		if errors.Is(err, backend.ErrNoRepository) {
			return nil, fmt.Errorf("%s: %w (create one with 'arca init')", loc, repo.ErrNoRepository)
		}
		return nil, err
	}
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); errors.Is(err, backend.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (create one with 'arca init')", loc, repo.ErrNoRepository)
	}
	pw, err := password()
	if err != nil {
		return nil, err
	}
	base, err := a.cacheBase()
	if err != nil {
		return nil, err
	}
	hint := a.keyHint
	if hint == "" {
		hint = a.getenv("ARCA_KEY_HINT")
	}
	return repo.Open(ctx, be, pw, repo.OpenOptions{CacheDir: base, KeyHint: hint, Warn: a.warnf})
}

// itemError reports a problem with one item of a run that goes on
// (during: "archival" for backup, "restore"), in restic's JSON shape.
func (a *app) itemError(during, item string, err error) {
	msg := userText(err.Error())
	if a.json {
		a.printJSON(map[string]any{"message_type": "error", "error": map[string]any{"message": msg}, "during": during, "item": item})
		return
	}
	fmt.Fprintf(a.stderr, "warning: %s: %s\n", item, msg)
}

func (a *app) warnf(msg string) {
	msg = userText(msg)
	if a.json {
		a.printJSON(map[string]any{"message_type": "warning", "message": msg})
		return
	}
	fmt.Fprintf(a.stderr, "warning: %s\n", msg)
}

// password reads the password, from the first source that is set:
// --password-file or --password-command (not both), ARCA_PASSWORD_FILE or
// ARCA_PASSWORD_COMMAND (not both), ARCA_PASSWORD, then the terminal
// (twice when confirm is set). An explicit flag wins over the environment;
// a file or command wins over ARCA_PASSWORD, as in restic.
func (a *app) password(confirm bool) ([]byte, error) {
	return a.readPassword(a.passwordFile, a.passwordCmd, "ARCA_", "Enter password: ", confirm)
}

// readPassword reads a password from file or cmd (flags), else from the
// environment under prefix (PASSWORD_FILE, PASSWORD_COMMAND, PASSWORD),
// else from the terminal.
func (a *app) readPassword(file, cmd, prefix, prompt string, confirm bool) ([]byte, error) {
	switch {
	case file != "" && cmd != "":
		return nil, errors.New("a password file and a password command are mutually exclusive: give one of them")
	case file == "" && cmd == "":
		file, cmd = a.getenv(prefix+"PASSWORD_FILE"), a.getenv(prefix+"PASSWORD_COMMAND")
		if file != "" && cmd != "" {
			return nil, fmt.Errorf("%sPASSWORD_FILE and %sPASSWORD_COMMAND are both set: unset one of them", prefix, prefix)
		}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("password file: %w", err)
		}
		return trimPassword(b, "password file "+file)
	}
	if cmd != "" {
		c := exec.Command("sh", "-c", cmd)
		c.Env = childEnv(os.Environ())
		c.Stderr = a.stderr
		out, err := c.Output()
		if err != nil {
			// The command line may hold a secret: name only its program.
			return nil, fmt.Errorf("password command %s failed: %w", commandName(cmd), err)
		}
		return trimPassword(out, "password command")
	}
	if pw := a.getenv(prefix + "PASSWORD"); pw != "" {
		return []byte(pw), nil
	}
	return a.prompt(prompt, confirm)
}

// secretEnv lists the variables that hold arca's secrets: they are never
// passed to the programs arca runs (--stdin-from-command,
// --password-command).
var secretEnv = []string{"ARCA_PASSWORD", "ARCA_NEW_PASSWORD", "ARCA_FROM_PASSWORD"}

// childEnv returns env without arca's secrets.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(secretEnv, name) {
			out = append(out, kv)
		}
	}
	return out
}

// commandName returns the program of a shell command line, for messages.
func commandName(cmd string) string {
	if f := strings.Fields(cmd); len(f) > 0 {
		return strconv.Quote(f[0])
	}
	return `""`
}

func trimPassword(b []byte, from string) ([]byte, error) {
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return nil, fmt.Errorf("%s gives an empty password", from)
	}
	return []byte(s), nil
}

// errNoTerminal is prompt's error when there is no terminal to ask on.
var errNoTerminal = errors.New("no password: set ARCA_PASSWORD, ARCA_PASSWORD_FILE, ARCA_PASSWORD_COMMAND, --password-file or --password-command, or run on a terminal")

func (a *app) prompt(msg string, confirm bool) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, errNoTerminal
	}
	defer tty.Close()
	fmt.Fprint(tty, msg)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	if confirm {
		fmt.Fprint(tty, "Enter the password again: ")
		again, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if string(again) != string(pw) {
			return nil, errors.New("the passwords do not match")
		}
	}
	return pw, nil
}

func (a *app) printJSON(v any) {
	if m, ok := v.(map[string]any); ok && m["message_type"] == "summary" {
		if c, ok := a.requests(); ok {
			m["requests"] = c
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(a.stderr, "arca: json: %v\n", err)
		return
	}
	fmt.Fprintln(a.stdout, string(b))
}

func (a *app) printf(format string, args ...any) {
	if !a.quiet {
		fmt.Fprintf(a.stdout, format, args...)
	}
}

func identity() (host, username string) {
	host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	return host, username
}

func (a *app) addKDFFlags(cmd *cobra.Command) {
	cmd.Flags().Uint32Var(&a.kdf.Time, "kdf-time", crypto.DefaultKDF.Time, "argon2id passes for the new key")
	cmd.Flags().Uint32Var(&a.kdf.Memory, "kdf-memory", crypto.DefaultKDF.Memory, "argon2id memory in KiB for the new key")
	cmd.Flags().Uint8Var(&a.kdf.Threads, "kdf-threads", crypto.DefaultKDF.Threads, "argon2id parallelism for the new key")
}

func (a *app) isTerminal() bool {
	if f, ok := a.stdout.(*os.File); ok {
		return term.IsTerminal(int(f.Fd()))
	}
	return false
}
